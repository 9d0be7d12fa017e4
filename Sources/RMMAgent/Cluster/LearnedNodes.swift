import Foundation
import Logging
import RMMProtocol
import RMMTransport
import Synchronization

/// The cluster's nodes as an agent learned them from welcomes: which of the URLs it can use, and
/// the private file in its state directory that keeps them across restarts.
public enum LearnedNodes {
    /// The file's name in the state directory.
    public static let fileName = "servers.json"

    /// The file's content: the learned node URLs as the server sent them.
    struct File: Codable {
        var nodes: [String]
    }

    /// A node URL this agent can use: a valid `NodeURL`, `ws://` only with `allowPlain`.
    public static func endpoint(_ url: String, allowPlain: Bool) -> ServerEndpoint? {
        guard NodeURL.problem(url) == nil, allowPlain || !NodeURL.isPlain(url) else { return nil }
        return try? ServerEndpoint(parsing: url)
    }

    /// The usable nodes of a welcome's list (at most `NodeURL.maxNodes` are looked at), each one
    /// left out logged with why.
    public static func usable(_ urls: [String], allowPlain: Bool, logger: Logger) -> [ServerEndpoint] {
        var endpoints: [ServerEndpoint] = []
        for url in urls.prefix(NodeURL.maxNodes) {
            if let problem = NodeURL.problem(url) {
                logger.notice("ignoring node '\(LogSafe.text(url, limit: 100))' from the server: \(problem)")
            } else if !allowPlain && NodeURL.isPlain(url) {
                logger.notice("ignoring node '\(LogSafe.text(url, limit: 100))' from the server: plain ws:// needs --allow-plain")
            } else if let endpoint = try? ServerEndpoint(parsing: url) {
                endpoints.append(endpoint)
            } else {
                logger.notice("ignoring node '\(LogSafe.text(url, limit: 100))' from the server: not a usable URL")
            }
        }
        return endpoints
    }

    /// The URLs saved in `stateDirectory`; none when there is no file or it is unreadable (logged:
    /// the nodes are learned again at the next welcome).
    public static func load(stateDirectory: String, logger: Logger) -> [String] {
        let path = stateDirectory + "/" + fileName
        do {
            guard let data = try PrivateStorage.readIfPresent(path) else { return [] }
            return Array(try JSONDecoder().decode(File.self, from: data).nodes.prefix(NodeURL.maxNodes))
        } catch {
            logger.warning("ignoring \(path): \(LogSafe.describe(error, limit: 200)); the server's node list is learned again at the next connection")
            return []
        }
    }

    /// Saves `urls` atomically, mode 0600 (`PrivateFile`).
    public static func save(_ urls: [String], stateDirectory: String) throws {
        try PrivateFile.save(try JSONEncoder().encode(File(nodes: urls)), to: stateDirectory + "/" + fileName)
    }
}

/// The agent's learned node list: loaded from the state directory at start, replaced and saved
/// as soon as a welcome brings a different one (a session may last for days, and a restart must
/// not forget the nodes). Shared by the runtime (which feeds its rotation from it) and each
/// connection (which hands it the welcome's list).
public final class NodeListKeeper: Sendable {
    private let stateDirectory: String
    private let allowPlain: Bool
    private let logger: Logger
    private let nodes: Mutex<[ServerEndpoint]>

    public init(stateDirectory: String, allowPlain: Bool, logger: Logger) {
        self.stateDirectory = stateDirectory
        self.allowPlain = allowPlain
        self.logger = logger
        nodes = Mutex(LearnedNodes.usable(LearnedNodes.load(stateDirectory: stateDirectory, logger: logger), allowPlain: allowPlain, logger: logger))
    }

    /// The usable nodes of the last list learned.
    public var endpoints: [ServerEndpoint] { nodes.withLock { $0 } }

    /// Takes a welcome's node list; saves it when its usable nodes differ from the last.
    public func welcome(_ urls: [String]) {
        let usable = LearnedNodes.usable(urls, allowPlain: allowPlain, logger: logger)
        let changed = nodes.withLock { held in
            defer { held = usable }
            return held != usable
        }
        guard changed else { return }
        logger.info("the cluster's nodes: \(usable.map(\.description).joined(separator: ", "))")
        do {
            try LearnedNodes.save(usable.map(\.description), stateDirectory: stateDirectory)
        } catch {
            logger.warning("cannot keep the cluster's node list: \(error)")
        }
    }
}
