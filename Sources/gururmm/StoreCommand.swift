import ArgumentParser
import Foundation
import RMMServer

/// `gururmm store`: operations on a server's store.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Operations on a server's store.",
                                                    subcommands: [StoreMigrateCommand.self])
}

/// `gururmm store migrate`: a stopped single node's SQLite store into an empty PostgreSQL database.
struct StoreMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a stopped server's SQLite store into an empty PostgreSQL database, so its fleet moves without re-enrolling.",
        discussion: "Then start the first node with `gururmm server --data-dir DATA_DIR --store URL` (the same data directory: its keys are the ones agents pinned)."
    )

    @Option(name: .customLong("from"), help: "The stopped server's data directory (holding gururmm.sqlite).")
    var from: String

    @Option(name: .customLong("to"), help: "postgres://USER@HOST:PORT/DB of an empty database; the password comes from GURURMM_STORE_PASSWORD or --store-password-file.")
    var to: String

    @Option(name: .customLong("store-password-file"), help: "A file whose first line is the PostgreSQL password.")
    var storePasswordFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "warning"

    func run() async throws {
        let logger = makeLogger(label: "gururmm.store", level: logLevel)
        let counts = try await StoreMigration.migrate(dataDirectory: from, to: to, passwordFile: storePasswordFile,
                                                      environment: ProcessInfo.processInfo.environment, logger: logger)
        let width = counts.map(\.table.count).max() ?? 0
        for count in counts {
            say("  \(count.table.padding(toLength: width, withPad: " ", startingAt: 0))  \(count.rows)")
        }
        say("Migrated \(counts.reduce(0) { $0 + $1.rows }) rows in \(counts.count) tables; the counts in PostgreSQL equal SQLite's.")
    }
}
