import ArgumentParser
import Foundation
import OutlineAuth

/// `outline-admin token`: mints a bearer token for a user (or an admin) with
/// the service's secret, for scripts, curl and the development setup.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a signed bearer token (HS256) for a user, using $OUTLINE_TOKEN_SECRET."
    )

    @Option(help: "the user id the token acts for") var user: String
    @Option(help: "user or admin") var role: String = "user"
    @Option(help: "lifetime in hours") var hours: Double = 24

    func run() async throws {
        guard let secret = ProcessInfo.processInfo.environment["OUTLINE_TOKEN_SECRET"], !secret.isEmpty else {
            throw ValidationError("set OUTLINE_TOKEN_SECRET to the server's token secret")
        }
        guard let role = AccessToken.Role(rawValue: role) else { throw ValidationError("--role is user or admin, not \(role)") }
        guard !user.isEmpty, hours > 0 else { throw ValidationError("--user must not be empty and --hours must be positive") }
        print(try await TokenSigner(secret: secret).sign(AccessToken(subject: user, role: role, expiresAt: Date().addingTimeInterval(hours * 3600))))
    }
}
