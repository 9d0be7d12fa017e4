import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request whose answer is read line by line as it arrives (NDJSON), so a caller can
/// act on a long answer without holding it: the CLI follows a batch this way.
public enum StreamedHTTP {
    /// Most bytes of a refusal's body kept for its message.
    static let maxErrorBody = 64 << 10

    /// Sends the request. A 2xx answer's body goes to `line` one line at a time (without its
    /// newline; at most `maxLine` bytes, else the request fails) as it arrives, and the reply's
    /// body is empty; another status's body (its first 64 KiB) comes back in the reply. The
    /// connection is closed, failing the request, when nothing arrives for `idleTimeout`.
    /// `drained` is called when the lines of what has arrived so far are all handed over (a
    /// caller that buffers what it makes of them flushes then).
    public static func lines(
        _ method: HTTPMethod, host: String, port: Int, path: String, tls: TLSTrust?,
        headers extra: [(String, String)] = [], body: Data? = nil, idleTimeout: TimeAmount, maxLine: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        drained: () -> Void = {},
        line: (Data) async throws -> Void
    ) async throws -> HTTPReply {
        var splitter = LineSplitter(maxLine: maxLine)
        let origin = "\(host):\(port)"
        let reply = try await chunks(method, host: host, port: port, path: path, tls: tls, headers: extra, body: body, idleTimeout: idleTimeout, group: group) { chunk in
            var chunk = chunk
            splitter.append(&chunk)
            while let next = try splitter.next(origin: origin) { try await line(next) }
            drained()
        }
        if (200..<300).contains(reply.status), let rest = splitter.rest() { try await line(rest) }
        return reply
    }

    /// As `lines`, but hands a 2xx body over in the pieces it arrives in.
    public static func chunks(
        _ method: HTTPMethod, host: String, port: Int, path: String, tls: TLSTrust?,
        headers extra: [(String, String)] = [], body: Data? = nil, idleTimeout: TimeAmount,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        chunk handle: (ByteBuffer) async throws -> Void
    ) async throws -> HTTPReply {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await HTTPExchange.connect(host: host, port: port, tls: tls, connectTimeout: idleTimeout, group: group)
        } catch {
            throw HTTPFetchError("\(host):\(port): " + TLSFailure.explain(error, trust: tls))
        }
        let eventLoop = channel.channel.eventLoop
        let raw = channel.channel
        var idle = eventLoop.scheduleTask(in: idleTimeout) { raw.close(promise: nil) }
        defer { idle.cancel() }
        let headers = HTTPExchange.singleRequestHeaders(host: host, port: port, bodyCount: body?.count ?? 0, extra: extra)
        let origin = "\(host):\(port)"
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var responses = inbound.makeAsyncIterator()
                try await HTTPExchange.write(HTTPExchange.requestParts(method, path: path, headers: headers, body: body), to: outbound, reasonFrom: &responses)
                var status = 0
                var refusal = ByteBuffer()
                while let part = try await responses.next() {
                    idle.cancel()
                    idle = eventLoop.scheduleTask(in: idleTimeout) { raw.close(promise: nil) }
                    switch part {
                    case .head(let head):
                        status = Int(head.status.code)
                    case .body(var chunk):
                        guard (200..<300).contains(status) else {
                            if refusal.readableBytes < maxErrorBody { refusal.writeBuffer(&chunk) }
                            continue
                        }
                        try await handle(chunk)
                    case .end:
                        return HTTPReply(status: status, body: Data(refusal.readableBytesView.prefix(maxErrorBody)))
                    }
                }
                throw HTTPFetchError("\(origin) closed the connection before the whole answer (nothing for \(idleTimeout.nanoseconds / 1_000_000_000) s?)")
            }
        } catch let error as HTTPFetchError {
            throw error
        } catch {
            throw HTTPFetchError("\(origin): " + TLSFailure.explain(error, trust: tls))
        }
    }
}

/// Splits arriving bytes into lines; remembers how far it looked, so a long line is scanned once.
struct LineSplitter {
    let maxLine: Int
    private var buffer = ByteBuffer()
    /// Bytes after the reader index known to hold no newline.
    private var scanned = 0

    init(maxLine: Int) { self.maxLine = maxLine }

    mutating func append(_ chunk: inout ByteBuffer) {
        buffer.writeBuffer(&chunk)
    }

    /// The next whole line, or nil until more bytes arrive.
    mutating func next(origin: String) throws -> Data? {
        let view = buffer.readableBytesView
        let start = view.startIndex
        guard let newline = view[(start + scanned)...].firstIndex(of: 0x0A) else {
            scanned = view.count
            if scanned > maxLine { throw HTTPFetchError("a line of the answer from \(origin) is longer than \(maxLine) bytes") }
            if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
            return nil
        }
        let length = newline - start
        guard length <= maxLine else { throw HTTPFetchError("a line of the answer from \(origin) is longer than \(maxLine) bytes") }
        let line = Data(view[start..<newline])
        buffer.moveReaderIndex(forwardBy: length + 1)
        scanned = 0
        return line
    }

    /// What is left after the last newline, if anything.
    mutating func rest() -> Data? {
        guard buffer.readableBytes > 0 else { return nil }
        defer { buffer.clear() }
        return Data(buffer.readableBytesView)
    }
}
