import Foundation
import NIOCore
import NIOPosix
import RMMProtocol
import RMMTransport

/// The doctor's steps below the WebSocket: name resolution, a timed TCP connect, a TLS handshake
/// with the trust an agent would use. Each returns what `DoctorMachine` reads.
enum DoctorNet {
    static let timeout = TimeAmount.seconds(10)
    #if canImport(Glibc)
    private static let streamSocket = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocket = SOCK_STREAM
    #endif

    static func resolve(_ host: String) async -> DoctorOutcome {
        await withCheckedContinuation { continuation in
            // getaddrinfo blocks: off the cooperative pool.
            Thread.detachNewThread { continuation.resume(returning: resolveNow(host)) }
        }
    }

    private static func resolveNow(_ host: String) -> DoctorOutcome {
        var hints = addrinfo()
        hints.ai_socktype = Self.streamSocket
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &found)
        guard status == 0, let first = found else { return .failed(String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var text = [CChar](repeating: 0, count: 1025)
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(address) { addresses.append(address) }
            }
            cursor = info.pointee.ai_next
        }
        return .resolved(addresses)
    }

    static func connectTCP(_ endpoint: ServerEndpoint) async -> DoctorOutcome {
        let start = ContinuousClock.now
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .connect(host: endpoint.host, port: endpoint.port).get()
            let ms = milliseconds(since: start)
            channel.close(promise: nil)
            return .tcpConnected(ms: ms)
        } catch {
            return .failed(explain(error))
        }
    }

    /// A TLS handshake as the agent makes it, then the certificate's pin.
    static func handshakeTLS(_ endpoint: ServerEndpoint, trust: TLSTrust) async -> DoctorOutcome {
        let start = ContinuousClock.now
        do {
            let passed = try await TLSCheck.handshake(host: endpoint.host, port: endpoint.port, trust: trust, timeout: timeout)
            let how = switch trust {
            case .pinned: "the certificate carries the pinned key"
            case .system: "the system's CA store trusts the certificate for \(endpoint.host)"
            }
            return .tlsPassed(detail: "\(how); the server's key pin is sha256:\(passed.serverPin ?? "?")", ms: milliseconds(since: start))
        } catch {
            return .failed("\(error)")
        }
    }

    /// One line for a connection error: what a technician reads.
    static func explain(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("refused") || (error as? IOError)?.errnoCode == ECONNREFUSED {
            return "connection refused: nothing listens on that port (is the server running, and is this its agent port?)"
        }
        if error is ChannelError || text.contains("timeout") || text.contains("timed out") {
            return "no answer within \(timeout.nanoseconds / 1_000_000_000) s (a firewall dropping the connection?): \(LogSafe.text(text, limit: 200))"
        }
        return LogSafe.text(text, limit: 300)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}
