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

/// Response header carrying the server's id for a connection (used by the long-poll downlink).
public let connectionIdHeader = "X-GuruRMM-Connection"

/// Opens client WebSocket connections (the agent side, and the fleet simulator).
public enum WebSocketConnector {
    private enum Upgrade: Sendable {
        case link(WebSocketLink)
        case refused
    }

    /// Connects and upgrades; returns the link once the server accepted the WebSocket handshake.
    ///
    /// - Parameters:
    ///   - downlink: how the server should send data frames (asked for in the upgrade URL).
    ///   - maxSegmentSize: clamps TCP's MSS before connecting (an MTU blackhole on the path).
    ///   - sourceAddress: the local IP address to connect from (tests use 127.0.0.x to be another host).
    public static func connect(
        to endpoint: ServerEndpoint,
        downlink: DownlinkMode = .text,
        maxSegmentSize: Int? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        sourceAddress: String? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketLink {
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let sourceAddress { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0)) }
        if let maxSegmentSize {
            bootstrap = bootstrap.channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_MAXSEG))), value: SocketOptionValue(maxSegmentSize))
        }
        var query: [String] = []
        if downlink != .text { query.append("downlink=\(downlink.rawValue)") }
        if let maxSegmentSize { query.append("mss=\(maxSegmentSize)") }
        let path = query.isEmpty ? endpoint.path : endpoint.path + "?" + query.joined(separator: "&")
        let upgrade: EventLoopFuture<Upgrade> = try await bootstrap
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: WireLimits.maxFrameBytes,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                let id = response.headers.first(name: connectionIdHeader)
                                return Upgrade.link(try WebSocketLink.install(on: channel, isClient: true, connectionId: id))
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    headers.add(name: "Content-Length", value: "0")
                    headers.add(name: "User-Agent", value: "gururmm-agent")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
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
        case .link(let link):
            if downlink == .poll {
                guard let id = link.connectionId else {
                    link.abort()
                    throw TransportError.upgradeRefused("\(endpoint) gave no connection id; it cannot serve a long-poll downlink")
                }
                DownlinkPoller(endpoint: endpoint, connectionId: id, link: link).start()
            }
            return link
        case .refused: throw TransportError.upgradeRefused("\(endpoint) did not accept a WebSocket upgrade (is this the agent port?)")
        }
    }
}
