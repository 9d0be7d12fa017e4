import Foundation
import RMMTransport

/// Writes files that hold secrets (identity keys): mode 0600, created with O_EXCL|O_NOFOLLOW,
/// fsynced, replaced atomically by rename, so a crash leaves either the old file or the new one.
public enum PrivateFile {
    public static func save(_ data: Data, to path: String) throws {
        do {
            try PrivateStorage.write(data, to: path)
        } catch {
            throw AgentError.badState("cannot save \(path): \(error)")
        }
    }
}
