// Tokens live in their own small module so tools can mint them without the
// server; the server's users see them as part of its API.
@_exported import OutlineAuth
