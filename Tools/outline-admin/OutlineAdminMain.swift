import OutlineAdminCommands

/// The executable is only an entry point; the commands live in OutlineAdminCommands.
@main
extension OutlineAdmin {}
