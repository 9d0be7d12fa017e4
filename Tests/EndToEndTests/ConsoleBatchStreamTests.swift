import Foundation
import RMMAPI
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The console's batch stream sends what its page shows and no more.
    @Suite("End to end: console batch stream bounds", .serialized)
    struct ConsoleBatchStreamTests {
        struct OutputEvent: Decodable {
            var id: String
            var stream: String
            var offset: Int
            var bytes: Int
        }

        @Test("a command's long output reaches the batch stream up to the 16 KiB its page shows, each byte once, then the summary")
        func longOutputIsBounded() async throws {
            try await withFleet(agents: ["loud-1"]) { server, _ in
                let http = ConsoleHTTP(port: server.apiPort)
                let cookie = try await ConsoleTests.login(http, token: server.token)
                let batch = try await server.api.run(["loud-1"], "head -c 100000 /dev/zero | tr '\\0' x")
                _ = try await server.api.finish(batch)

                let stream = try await RawTCPClient.connect(host: "127.0.0.1", port: server.apiPort, from: "127.0.0.1")
                try await stream.send("GET /events/batches/\(batch.batchId)?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gururmm_session=\(cookie)\r\n\r\n")
                try await waitUntil("the batch stream ends with its summary", timeout: .seconds(30)) { stream.received.contains("event: summary") }
                let received = stream.received
                await stream.close()

                let outputs = try received.components(separatedBy: "event: output\ndata: ").dropFirst().map { event in
                    let line = String(event.prefix { $0 != "\n" })
                    return try JSONDecoder().decode(OutputEvent.self, from: Data(line.utf8))
                }
                let stdout = outputs.filter { $0.stream == "stdout" }.sorted { $0.offset < $1.offset }
                #expect(!stdout.isEmpty && stdout.first?.offset == 0)
                var next = 0
                for chunk in stdout {
                    #expect(chunk.offset == next, "contiguous, each byte once")
                    next = chunk.offset + chunk.bytes
                }
                #expect(next == 16 << 10, "the page shows 16 KiB of a stream; the stream sent \(next) bytes")
                #expect(received.contains("1 succeeded"))
            }
        }
    }
}
