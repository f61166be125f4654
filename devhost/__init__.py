"""A host double: a small server shaped like ComfyUI's ``PromptServer``.

It registers routes the way ComfyUI 0.8.0 does (each ``/x`` also as ``/api/x``, an
``/internal`` sub-app, extension web directories, the frontend's static files last), answers
the calls the real ``comfyui-frontend-package`` makes while it boots, and loads custom nodes
exactly as ``nodes.load_custom_node`` does. The demo command (``python -m devhost``) and the
browser tests run this package inside it when ComfyUI itself is absent.
"""
