// The token is in the form; take it out of the address bar and the history, so that it is
// not left behind in the browser once the page is open.
if (location.search.includes("token=")) history.replaceState(null, "", location.pathname);
