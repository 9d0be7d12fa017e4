import ArgumentParser
import RMMServer

/// `gururmm cluster`: running several nodes on one PostgreSQL store.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster", abstract: "Running several server nodes on one PostgreSQL store.",
                                                    subcommands: [ClusterExportKeysCommand.self])
}

/// `gururmm cluster export-keys`: the files a joining node needs from the first node.
struct ClusterExportKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-keys",
        abstract: "Copy the key files a joining node needs (signing key, TLS key and certificate, admin token) into a private directory.",
        discussion: "Copy that directory's files into the new node's data directory (mode 0700, files 0600), then start it with the same --store and its own --node-name."
    )

    @Option(name: .customLong("data-dir"), help: "The first node's data directory.")
    var dataDirectory: String

    @Option(name: .customLong("out"), help: "Where to put the files (made 0700 if new; existing files are never overwritten).")
    var out: String

    func run() throws {
        let copied = try ClusterKeys.export(dataDirectory: dataDirectory, to: out)
        say("Copied \(copied.joined(separator: ", ")) into \(out) (mode 0600). They are secrets: move them only over a private channel.")
    }
}
