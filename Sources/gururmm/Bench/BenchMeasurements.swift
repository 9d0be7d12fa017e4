import Foundation
import RMMAPI
import RMMProtocol
import RMMTransport

/// The measurements, each against the live server and fleet the harness set up.
enum BenchMeasurements {
    /// Round trips of a small text frame to a bare WebSocket echo server on this machine, in ms.
    static func echoRoundTrips(count: Int) async throws -> Percentiles {
        let (server, port) = try await EchoServer.start()
        defer { server.close(promise: nil) }
        let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: "ws://127.0.0.1:\(port)"))
        defer { link.close(.normal, reason: "done") }
        var events = link.events.makeAsyncIterator()
        var samples: [Double] = []
        let clock = ContinuousClock()
        for id in 0..<(count + count / 10) {
            let started = clock.now
            link.send(Envelope(.heartbeat(Heartbeat(id: id, echo: nil, time: 0))))
            guard case .message? = await events.next() else { throw BenchError("echo server closed the connection") }
            link.markHandled()
            // The first tenth warms up connections, allocators and caches; it is not counted.
            if id >= count / 10 { samples.append((clock.now - started).milliseconds) }
        }
        return Percentiles(samples)
    }

    /// How long the disk under `directory` takes to make a small append durable (write + fdatasync,
    /// what a SQLite WAL commit with `synchronous = FULL` waits for), in ms. A durable command
    /// round trip cannot be faster than the commits on its path, so this is its floor.
    static func syncLatency(directory: String, count: Int) throws -> Percentiles {
        let path = directory + "/fsync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            unlink(path)
        }
        let block = [UInt8](repeating: 0x5a, count: 4096)
        var samples: [Double] = []
        let clock = ContinuousClock()
        for round in 0..<(count + count / 10) {
            let started = clock.now
            let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == block.count, fdatasync(fd) == 0 else { throw BenchError("write/fdatasync on \(path) failed: \(String(cString: strerror(errno)))") }
            if round >= count / 10 { samples.append((clock.now - started).milliseconds) }
        }
        return Percentiles(samples)
    }

    /// Dispatch → result persisted for one command to one agent, as an operator sees it (POST,
    /// then `GET /batches/{id}?wait=` until done), in ms, over one kept-alive API connection.
    static func commandRoundTrips(_ server: BenchServer, agent: String, count: Int) async throws -> Percentiles {
        try await KeepAliveAPI.with(server.api.base, token: server.api.token) { api in
            var samples: [Double] = []
            let clock = ContinuousClock()
            let request = RunRequest(agents: [agent], all: nil, command: "true", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 30)
            for round in 0..<(count + count / 10) {
                let started = clock.now
                let batch: RunResponse = try await api.post("/api/v1/commands", body: request)
                // The long-poll that answers once the batch is done: one request, not one per state
                // change (the change feed's long-poll returns at every step, each a new request).
                let deadline = clock.now + .seconds(30)
                while try await !api.get("/api/v1/batches/\(batch.batchId)?wait=20", as: BatchSummaryView.self).done {
                    if clock.now > deadline { throw BenchError("command \(round) of the round trips not done after 30 s") }
                }
                if round >= count / 10 { samples.append((clock.now - started).milliseconds) }
            }
            return Percentiles(samples)
        }
    }

    /// One command to every agent; seconds until every result is persisted, and how they ended.
    static func fanOut(_ server: BenchServer) async throws -> (seconds: Double, summary: BatchSummaryView, batch: RunResponse) {
        let clock = ContinuousClock()
        let started = clock.now
        let batch = try await server.api.run(RunRequest(agents: nil, all: true, command: "true", script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 120))
        let summary = try await server.api.awaitBatch(batch.batchId, timeout: 300)
        return ((clock.now - started).seconds, summary, batch)
    }

    /// What the CLI used to do after a batch ended: one `GET /api/v1/commands/{id}` per command,
    /// one after another, each on its own connection; seconds for all of them.
    static func perCommandFetches(_ server: BenchServer, _ batch: RunResponse) async throws -> Double {
        let clock = ContinuousClock()
        let started = clock.now
        for target in batch.commands {
            _ = try await server.api.command(target.commandId)
        }
        return (clock.now - started).seconds
    }

    /// Fan-outs to the whole fleet back to back, `inFlight` at a time, for about `seconds`:
    /// commands per second through dispatch, ack, result and persistence.
    static func throughput(_ server: BenchServer, seconds: Double, inFlight: Int) async throws -> (perSecond: Double, commands: Int, failed: Int) {
        let api = server.api
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        let totals = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<inFlight {
                group.addTask {
                    var done = 0, failed = 0
                    while clock.now < deadline {
                        let batch = try await api.run(RunRequest(agents: nil, all: true, command: "true", script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 120))
                        let summary = try await api.awaitBatch(batch.batchId, timeout: 300)
                        done += summary.total
                        failed += summary.total - (summary.states["succeeded"] ?? 0)
                    }
                    return (done, failed)
                }
            }
            var sum = (0, 0)
            for try await (done, failed) in group { sum = (sum.0 + done, sum.1 + failed) }
            return sum
        }
        let elapsed = (clock.now - started).seconds
        return (Double(totals.0) / elapsed, totals.0, totals.1)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}
