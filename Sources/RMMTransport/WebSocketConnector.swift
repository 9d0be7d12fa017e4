import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RMMProtocol

/// Where an agent connects: parsed from `wss://HOST:PORT[/path]` (or `ws://` for local use).
public struct ServerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String
    public var secure: Bool

    /// Parses a wss:// or ws:// URL; throws with a message saying what is wrong.
    public init(parsing text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw TransportError.badURL("'\(text)' is not a URL like wss://host:7443")
        }
        switch scheme {
        case "ws": secure = false
        case "wss": secure = true
        default: throw TransportError.badURL("'\(text)' must start with wss:// (or ws:// for a server run with --plain)")
        }
        self.host = host
        self.port = url.port ?? 7443
        self.path = url.path.isEmpty || url.path == "/" ? UpgradeQuery.path : url.path
    }

    public var description: String { "\(secure ? "wss" : "ws")://\(host):\(port)\(path)" }
}

/// Errors from opening a connection, with the reason spelled out.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case badURL(String)
    case upgradeRefused(String)
    case connectFailed(String)
    /// TCP connected and the request went out, but no TLS or upgrade answer came back: what an
    /// MTU blackhole looks like from the client (small packets pass, the server's larger ones don't).
    case answerLost(String)

    public var description: String {
        switch self {
        case .badURL(let why): return why
        case .upgradeRefused(let why): return why
        case .connectFailed(let why): return why
        case .answerLost(let why): return why
        }
    }
}

extension WebSocketConnector {
    fileprivate static func awaitAnswer<T: Sendable>(
        _ upgrade: EventLoopFuture<T>, on channel: (any Channel)?, within timeout: TimeAmount, endpoint: ServerEndpoint
    ) async throws -> T {
        let timedOut = NIOLockedValueBox(false)
        let timer = channel?.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel?.close(promise: nil)
        }
        defer { timer?.cancel() }
        do {
            return try await upgrade.get()
        } catch {
            let stalled = timedOut.withLockedValue { $0 } || (error as? IOError)?.errnoCode == ETIMEDOUT
            if stalled {
                throw TransportError.answerLost("\(endpoint): connected, but no TLS/upgrade answer within \(timeout.nanoseconds / 1_000_000_000) s (large packets lost on the path?)")
            }
            throw error
        }
    }
}

/// Opens client WebSocket connections (the agent side, and the fleet simulator).
public enum WebSocketConnector {
    /// How the server answered the upgrade request.
    enum Upgrade: Sendable {
        case link(WebSocketLink)
        case refused
    }

    /// Connects and upgrades; returns the link once the server accepted the WebSocket handshake.
    ///
    /// - Parameters:
    ///   - downlink: how the server should send data frames (asked for in the upgrade URL).
    ///   - maxSegmentSize: clamps TCP's MSS before connecting (an MTU blackhole on the path).
    ///   - tls: how to trust a `wss://` server (required for one; ignored for `ws://`).
    ///   - sourceAddress: the local IP address to connect from (tests use 127.0.0.x to be another host).
    public static func connect(
        to endpoint: ServerEndpoint,
        tls: TLSTrust? = nil,
        downlink: DownlinkMode = .text,
        maxSegmentSize: Int? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        answerTimeout: TimeAmount = .seconds(10),
        sourceAddress: String? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketLink {
        let tls = endpoint.secure ? tls : nil
        if endpoint.secure && tls == nil {
            throw TransportError.badURL("\(endpoint) needs a TLS pin (from the enrollment token) or 'system' trust; refusing an unpinned server")
        }
        do {
            return try await open(endpoint, tls: tls, downlink: downlink, maxSegmentSize: maxSegmentSize,
                                  connectTimeout: connectTimeout, answerTimeout: answerTimeout, sourceAddress: sourceAddress, group: group)
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.connectFailed("\(endpoint): " + TLSFailure.explain(error, trust: tls))
        }
    }

    private static func open(
        _ endpoint: ServerEndpoint, tls: TLSTrust?, downlink: DownlinkMode, maxSegmentSize: Int?,
        connectTimeout: TimeAmount, answerTimeout: TimeAmount, sourceAddress: String?, group: any EventLoopGroup
    ) async throws -> WebSocketLink {
        let connected = NIOLockedValueBox<(any Channel)?>(nil)
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let sourceAddress { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0)) }
        if let maxSegmentSize {
            bootstrap = bootstrap.channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_MAXSEG))), value: SocketOptionValue(maxSegmentSize))
        }
        let path = UpgradeQuery(downlink: downlink, mss: maxSegmentSize).uri(path: endpoint.path)
        let upgrade: EventLoopFuture<Upgrade> = try await bootstrap
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                connected.withLockedValue { $0 = channel }
                return channel.eventLoop.makeCompletedFuture {
                    try configureClientPipeline(on: channel, endpoint: endpoint, tls: tls, path: path)
                }
            }
        // TCP is up; the TLS handshake and the 101 must follow. If they never come, say so in a
        // way the agent can act on (a size blackhole drops exactly these larger packets).
        let answered = try await Self.awaitAnswer(upgrade, on: connected.withLockedValue { $0 }, within: answerTimeout, endpoint: endpoint)
        switch answered {
        case .link(let link):
            if downlink == .poll {
                guard let id = link.connectionId else {
                    link.abort()
                    throw TransportError.upgradeRefused("\(endpoint) gave no connection id; it cannot serve a long-poll downlink")
                }
                DownlinkPoller(endpoint: endpoint, tls: tls, connectionId: id, link: link).start()
            }
            return link
        case .refused: throw TransportError.upgradeRefused("\(endpoint) did not accept a WebSocket upgrade (is this the agent port?)")
        }
    }
}
