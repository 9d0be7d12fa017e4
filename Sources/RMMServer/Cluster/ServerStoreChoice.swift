import Foundation
import Logging
import RMMStore

/// Which store a server runs on.
public enum ServerStoreChoice: Sendable, Equatable {
    /// `DATA_DIR/gururmm.sqlite`: a single node.
    case sqlite
    /// A PostgreSQL database that several nodes share, by `postgres://` URL; its password comes
    /// from `passwordFile` or `GURURMM_STORE_PASSWORD`, never the URL.
    case postgres(url: String, passwordFile: String?)
}

/// An open store and what the server needs to know about its kind.
struct OpenedStore {
    let store: any Store
    /// Set for a store several nodes share: the server then takes a lease on its name.
    let shared: Bool
    /// How an operator deletes one settings row by hand, given the SQL.
    let manualSQL: @Sendable (String) -> String
    /// Closes it once every service has returned.
    let close: @Sendable () -> Void

    /// Opens the store `options` names; a URL, password or database that cannot be used is a
    /// `StartupError` saying which and why.
    static func open(_ options: ServerOptions, data: DataDirectory, environment: [String: String], logger: Logger) async throws -> OpenedStore {
        switch options.store {
        case .sqlite:
            try data.prepareDatabaseFiles()
            let store = try SQLiteStore(path: data.databasePath)
            if case .failed(let why) = store.walPreallocation {
                logger.warning("the write-ahead log was not preallocated (\(why)); commits grow it until its first checkpoint, which makes each slower")
            }
            let path = data.databasePath
            return OpenedStore(store: store, shared: false, manualSQL: { "sqlite3 \(path) \"\($0)\"" }, close: {})
        case .postgres(let url, let passwordFile):
            let location: PostgresLocation
            let password: String?
            do {
                location = try PostgresLocation(parsing: url)
                password = try PostgresLocation.password(environment: environment, file: passwordFile)
            } catch {
                throw StartupError("--store: \(error)")
            }
            let store: PostgresStore
            do {
                store = try await PostgresStore.open(location, password: password, logger: logger)
            } catch {
                throw StartupError("cannot use the store: \(error)")
            }
            let shown = "\(location)"
            return OpenedStore(store: store, shared: true, manualSQL: { "psql against \(shown): \($0)" }, close: { store.close() })
        }
    }
}
