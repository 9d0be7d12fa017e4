import Foundation

/// The newest config version this agent applied, kept in its state directory so that a replayed
/// older config is refused after a restart too (`WorkVerifier.refusal(_:signature:at:appliedVersion:)`).
public struct AppliedConfigVersion: Sendable {
    static let fileName = "config-version"

    private let path: String?
    /// Nil until a config was applied.
    public private(set) var value: Int?

    /// Reads the recorded version from `stateDirectory`; an unreadable or damaged file counts as none.
    public init(stateDirectory: String) {
        path = stateDirectory + "/" + Self.fileName
        value = FileManager.default.contents(atPath: stateDirectory + "/" + Self.fileName)
            .flatMap { String(data: $0, encoding: .utf8) }
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Kept in memory only (tests, simulated agents).
    public init(inMemory value: Int? = nil) {
        path = nil
        self.value = value
    }

    /// Records `version` as applied if it is newer; durable before it returns.
    public mutating func record(_ version: Int) throws {
        guard version > (value ?? Int.min) else { return }
        if let path { try PrivateFile.save(Data("\(version)\n".utf8), to: path) }
        value = version
    }
}
