import Foundation
import NIOCore
import NIOPosix

/// The W3C WebDriver wire protocol over HTTP and JSON: a command is a method, a path and an
/// optional JSON body; the answer's `value` is the result, or an `error` with its message.
///
/// Each command is one HTTP/1.1 exchange on its own loopback connection (`Connection: close`),
/// read to its end: Foundation's URLSession on Linux rejects chromedriver's answers, whose
/// headers have no space after the colon.
struct WebDriverClient: Sendable {
    /// chromedriver's loopback port.
    let port: Int

    /// Sends a command and returns its answer's `value`.
    func call(_ method: String, _ path: String, _ body: JSONValue? = nil, timeout: Duration = .seconds(60)) async throws -> JSONValue {
        let payload = try body.map { try JSONEncoder().encode($0) } ?? (method == "POST" ? Data("{}".utf8) : Data())
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        request += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(payload.count)\r\n\r\n"
        let answer = try await HTTPExchange.send(Array(request.utf8) + payload, port: port, timeout: timeout)
        let (status, content) = try HTTPExchange.parse(answer, command: "\(method) \(path)")
        let value = (try? JSONDecoder().decode(JSONValue.self, from: content))?["value"] ?? .null
        if status != 200 || value["error"] != nil {
            throw WebDriverError(
                command: "\(method) \(path)", error: value["error"]?.string ?? "HTTP \(status)",
                message: value["message"]?.string ?? String(decoding: content.prefix(2000), as: UTF8.self)
            )
        }
        return value
    }
}

/// One request and its whole answer: read up to its `Content-Length` (chromedriver may keep the
/// connection open), or until the server closes the connection.
enum HTTPExchange {
    static func send(_ request: [UInt8], port: Int, timeout: Duration) async throws -> [UInt8] {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answer = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(answer: answer)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)) { channel.close(promise: nil) }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: request))
        return try await answer.futureResult.get()
    }

    /// Where the head of `answer` ends and how long its body is, once the head has arrived.
    static func head(_ answer: [UInt8]) -> (end: Int, status: Int, length: Int?)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = answer.indices.first(where: { answer[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: answer[..<end], as: UTF8.self).split(separator: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let length = lines.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        return (end + separator.count, status, length)
    }

    /// The status code and body of a whole HTTP/1.1 answer.
    static func parse(_ answer: [UInt8], command: String) throws -> (Int, Data) {
        guard let head = head(answer) else {
            throw WebDriverError(command: command, error: "no HTTP answer", message: String(decoding: answer.prefix(500), as: UTF8.self))
        }
        let body = answer[head.end...]
        return (head.status, Data(head.length.map { body.prefix($0) } ?? body))
    }

    /// Collects the answer; fulfils the promise when it is whole or the connection ends.
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let answer: EventLoopPromise<[UInt8]>
        var bytes: [UInt8] = []
        var done = false

        init(answer: EventLoopPromise<[UInt8]>) { self.answer = answer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes.append(contentsOf: unwrapInboundIn(data).readableBytesView)
            if let head = HTTPExchange.head(bytes), let length = head.length, bytes.count - head.end >= length { finish() }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        private func finish() {
            guard !done else { return }
            done = true
            answer.succeed(bytes)
        }
    }
}

/// A WebDriver command that failed: the W3C error code (`no such element`, `timeout`, …) and
/// the driver's message.
public struct WebDriverError: Error, CustomStringConvertible, Sendable {
    public let command: String
    public let error: String
    public let message: String

    public var description: String { "WebDriver \(command): \(error): \(message)" }
}
