// comfyui-auth frontend extension: shows who is signed in and adds "Sign out".
// Uses only ComfyUI's public extension API (registerExtension with commands, menuCommands and
// topbarBadges), so it keeps working across frontend updates. If /auth/me does not answer
// (authentication disabled), it adds nothing.
import { app } from "../../scripts/app.js";

const SIGN_OUT = "comfyui-auth.signOut";

async function whoAmI() {
  try {
    const response = await fetch("/auth/me", { credentials: "same-origin" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function signOut() {
  // The interceptor (inject.js) adds the X-CSRF-Token header to this same-origin POST.
  try {
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    location.assign("/auth/login?logout=true");
  }
}

const me = await whoAmI();

if (me) {
  const label = me.role === "admin" ? `${me.user} (admin)` : me.user;
  app.registerExtension({
    name: "comfyui-auth.session",
    commands: [
      {
        id: SIGN_OUT,
        label: `Sign out (${label})`,
        menubarLabel: "Sign out",
        icon: "pi pi-sign-out",
        function: signOut,
      },
    ],
    menuCommands: [{ path: ["Account"], commands: [SIGN_OUT] }],
    topbarBadges: [
      { label: "Signed in", text: label, icon: "pi pi-user", tooltip: `Signed in as ${label}` },
    ],
  });
}
