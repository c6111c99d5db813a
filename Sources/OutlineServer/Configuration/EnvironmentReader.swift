import Foundation

/// Reads the service's settings from the environment with their ranges checked
/// before any arithmetic: a value outside its range is refused at start-up with
/// the variable's name and what it accepts, never clamped in silence and never
/// allowed to reach a trapping conversion later.
struct EnvironmentReader {
    let environment: [String: String]

    /// An integer in `range`, or nil when the variable is unset.
    func integer(_ name: String, in range: ClosedRange<Int>, unit: String = "") throws -> Int? {
        guard let text = environment[name] else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 20, let value = Int(trimmed), range.contains(value) else {
            let suffix = unit.isEmpty ? "" : " \(unit)"
            throw ServiceConfiguration.Problem.invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)\(suffix), not \(String(text.prefix(40)).debugDescription)")
        }
        return value
    }

    /// A whole number of seconds in `range`, as a Duration.
    func seconds(_ name: String, in range: ClosedRange<Int>) throws -> Duration? {
        try integer(name, in: range, unit: "seconds").map { .seconds($0) }
    }

    func boolean(_ name: String) throws -> Bool? {
        guard let text = environment[name] else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ServiceConfiguration.Problem.invalid(name, "must be true or false, not \(String(text.prefix(40)).debugDescription)")
        }
    }

    /// An amount of dollars as micro-dollars, `none` for no amount (`.some(nil)`), or nil when unset.
    func dollars(_ name: String, allowNone: Bool) throws -> Int64?? {
        guard let text = environment[name] else { return nil }
        if allowNone, text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .some(nil) }
        guard let value = SpendingBudgets.microdollars(text) else {
            throw ServiceConfiguration.Problem.invalid(name, "must be an amount of dollars from 0 to 1000000 (like 25 or 2.50)\(allowNone ? ", or none" : ""), not \(String(text.prefix(40)).debugDescription)")
        }
        return .some(value)
    }

    /// One of `values`, or nil when unset.
    func choice(_ name: String, from values: [String]) throws -> String? {
        guard let text = environment[name] else { return nil }
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard values.contains(value) else {
            throw ServiceConfiguration.Problem.invalid(name, "must be one of \(values.joined(separator: ", ")), not \(String(text.prefix(40)).debugDescription)")
        }
        return value
    }
}
