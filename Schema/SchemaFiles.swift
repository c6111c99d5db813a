import Foundation

/// The SQL migrations shipped with this build (the `.sql` files beside this one).
///
/// They are copied into the build as a resource so a deployed binary carries the
/// exact schema it was built against. `OUTLINE_SCHEMA_DIR` points elsewhere, for
/// an operator who keeps them apart from the binary.
public enum SchemaFiles {
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let override = environment["OUTLINE_SCHEMA_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        return Bundle.module.url(forResource: "migrations", withExtension: nil)
    }
}
