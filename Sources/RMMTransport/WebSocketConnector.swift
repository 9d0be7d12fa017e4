import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RMMProtocol

/// Where an agent connects: parsed from `ws://HOST:PORT[/path]`.
public struct ServerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String
    public var secure: Bool

    /// Parses a ws:// URL; throws with a message saying what is wrong.
    public init(parsing text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw TransportError.badURL("'\(text)' is not a URL like ws://host:7443")
        }
        switch scheme {
        case "ws": secure = false
        case "wss": throw TransportError.badURL("wss:// is not supported by this build yet; use ws://")
        default: throw TransportError.badURL("'\(text)' must start with ws://")
        }
        self.host = host
        self.port = url.port ?? 7443
        self.path = url.path.isEmpty || url.path == "/" ? "/agent" : url.path
    }

    public var description: String { "\(secure ? "wss" : "ws")://\(host):\(port)\(path)" }
}

/// Errors from opening a connection, with the reason spelled out.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case badURL(String)
    case upgradeRefused(String)

    public var description: String {
        switch self {
        case .badURL(let why): return why
        case .upgradeRefused(let why): return why
        }
    }
}

/// Opens client WebSocket connections (the agent side, and the fleet simulator).
public enum WebSocketConnector {
    private enum Upgrade: Sendable {
        case link(WebSocketLink)
        case refused
    }

    /// Connects and upgrades; returns the link once the server accepted the WebSocket handshake.
    public static func connect(
        to endpoint: ServerEndpoint,
        connectTimeout: TimeAmount = .seconds(10),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketLink {
        let upgrade: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: WireLimits.maxFrameBytes,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                Upgrade.link(try WebSocketLink.install(on: channel, isClient: true))
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    headers.add(name: "Content-Length", value: "0")
                    headers.add(name: "User-Agent", value: "gururmm-agent")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers)
                    let config = NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                channel.close(promise: nil)
                                return Upgrade.refused
                            }
                        }
                    )
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: config)
                    // The server's first frame (the challenge) can arrive in the same read as the
                    // 101 response; NIO's default drops such bytes, which silently loses that frame.
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                }
            }
        switch try await upgrade.get() {
        case .link(let link): return link
        case .refused: throw TransportError.upgradeRefused("\(endpoint) did not accept a WebSocket upgrade (is this the agent port?)")
        }
    }
}
