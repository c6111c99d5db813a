import ArgumentParser

/// The operators' and analysts' program: migrations, projections, the log.
public struct OutlineAdmin: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "outline-admin",
        abstract: "Operate OutlineStream's event log: migrate the schema, rebuild read models, read and verify sessions.",
        subcommands: [MigrateCommand.self, ProjectionsCommand.self, EventsCommand.self, VerifyCommand.self, AnchorCommand.self, ExportCommand.self, ExportCheckCommand.self, ReplayCommand.self, TokenCommand.self, CompactCommand.self, PartitionsCommand.self, RetentionCommand.self, RedactCommand.self]
    )

    public init() {}
}
