import Foundation

/// Every wait in a test has a deadline and says what it waited for: a test on
/// a loaded machine fails with a reason instead of hanging the suite.
public enum Deadline {
    public struct Expired: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Checks `condition` every `every` until it holds; throws `Expired` naming
    /// `what` when `within` passes first.
    public static func wait(for what: String, within: Duration, every: Duration = .milliseconds(20),
                            _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + within
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw Expired(description: "waited \(within) for \(what)") }
            try await Task.sleep(for: every)
        }
    }

    /// Asks `produce` every `every` until it gives a value, and returns it;
    /// throws `Expired` naming `what` when `within` passes first.
    public static func value<T>(of what: String, within: Duration, every: Duration = .milliseconds(20),
                                _ produce: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + within
        while true {
            if let value = try await produce() { return value }
            guard ContinuousClock.now < deadline else { throw Expired(description: "waited \(within) for \(what)") }
            try await Task.sleep(for: every)
        }
    }
}
