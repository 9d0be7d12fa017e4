import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A TLS handshake on its own, made exactly as a client of this trust makes it
/// (`TLSTrust.makeClientHandler`), for `gururmm doctor`: did it pass, and what key does the
/// server's certificate carry.
public enum TLSCheck {
    /// The result of one handshake.
    public struct Passed: Sendable {
        /// The pin of the server's leaf certificate (`TLSTrust.pin(of:)`), if one could be read.
        public var serverPin: String?
    }

    /// Connects, completes the handshake (or fails it), and closes. Throws what failed, explained
    /// with `TLSFailure.explain`.
    public static func handshake(host: String, port: Int, trust: TLSTrust, timeout: TimeAmount) async throws -> Passed {
        let (results, report) = AsyncStream<Result<Void, any Error>>.makeStream()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try trust.makeClientHandler(host: host))
                        try channel.pipeline.syncOperations.addHandler(HandshakeReporter(report: report))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw TransportError.connectFailed(TLSFailure.explain(error, trust: trust))
        }
        channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        var iterator = results.makeAsyncIterator()
        let result = await iterator.next() ?? .failure(ChannelError.ioOnClosedChannel)
        let certificate: NIOSSLCertificate? = (try? await channel.nioSSL_peerCertificate().get()) ?? nil
        channel.close(promise: nil)
        do {
            try result.get()
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.connectFailed(TLSFailure.explain(error, trust: trust))
        }
        return Passed(serverPin: certificate.flatMap { try? TLSTrust.pin(of: $0) })
    }
}

/// Reports how a TLS handshake ended: completed, failed, or the connection closed first.
private final class HandshakeReporter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let report: AsyncStream<Result<Void, any Error>>.Continuation

    init(report: AsyncStream<Result<Void, any Error>>.Continuation) {
        self.report = report
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            report.yield(.success(()))
            report.finish()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report.yield(.failure(error))
        report.finish()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        report.yield(.failure(TransportError.answerLost("the connection closed before TLS completed (no TLS answer in time?)")))
        report.finish()
        context.fireChannelInactive()
    }
}
