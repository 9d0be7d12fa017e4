import Foundation
import PropertyBased
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Randomized requests to every operator API route of a real server: fuzzed path parameters, query
    /// parameters, bodies and credentials. Fixed seed by default; `GURURMM_FUZZ_SEED` and
    /// `GURURMM_FUZZ_ITERATIONS` (see `FuzzSettings`) run other or more rounds.
    @Suite("End to end: API fuzz", .serialized)
    struct APIFuzzTests {
        /// Each case gets a generator of its own, started from the case's seed.
        static func caseGenerator(_ seed: inout FuzzSeed) -> Xoshiro {
            var rng = Xoshiro(seed: seed.words)
            defer { seed.words = (rng.next(), rng.next(), rng.next(), rng.next()) }
            return rng
        }

        static func describe(_ rng: Xoshiro) -> String { "case seed \(FuzzSeed(words: rng.currentState))" }

        /// Runs `body` against a fresh server; on a failure, the tail of the server's log is attached.
        private func withServer(_ body: (APIFuzzWorld) async throws -> Bool) async throws {
            // Bad credentials are part of the fuzz: lift the per-address failed-auth limit (tested in
            // LimitTests) so that they keep reaching the token check.
            try await withFleet(agents: [], serverArguments: ["--max-failed-auth-per-minute", "100000"]) { server, _ in
                let world = APIFuzzWorld(server: server)
                if try await !body(world) {
                    Issue.record(Comment(rawValue: "server log (tail):\n" + String(server.process.logContents().suffix(4000))))
                }
            }
        }

        @Test("every route: fuzzed paths, queries and bodies get no 5xx and no bare error, and a 2xx did what it says")
        func routes() async throws {
            try await withServer { world in
                try await world.populate()
                do {
                    try await world.sweep()
                } catch {
                    Issue.record(Comment(rawValue: "sweep: \(error)"))
                    return false
                }
                // A round sends one request to every route, in a random order.
                let passed = await fuzz(iterations: 12, generate: Self.caseGenerator, describe: Self.describe) { start in
                    var rng = start
                    for route in FuzzRoute.all.shuffled(using: &rng) { try await world.exercise(route, &rng) }
                }
                guard passed else { return false }
                guard try await queryEdges(world) else { return false }
                return try await oversizedBodies(world)
            }
        }

        /// Found by this fuzz: `wait=nan` on a batch with nothing new crashed the server (NaN to Int).
        private func queryEdges(_ world: APIFuzzWorld) async throws -> Bool {
            do {
                try await world.checkQueryEdges()
                return true
            } catch {
                Issue.record(Comment(rawValue: "query edge: \(error)"))
                return false
            }
        }

        /// Every route that reads a body, with one just over the API's 24 MiB limit, and live path values.
        private func oversizedBodies(_ world: APIFuzzWorld) async throws -> Bool {
            let huge = FuzzJSON.object([("reason", .string(String(repeating: "a", count: 24 << 20)))]).data
            for route in FuzzRoute.all {
                guard route.body != nil else { continue }
                let path = route.path { world.pool($0).first ?? "fuzz" }
                let (status, data) = try await world.send(route.method, path, body: huge)
                let exchange = Exchange(method: route.method, path: path, parameters: [], query: [], body: Data(), status: status, response: data)
                do {
                    try world.checkAnswer(exchange)
                    try ensure(status == 413, "status \(status) for a body over the limit")
                } catch {
                    Issue.record(Comment(rawValue: "\(error)\n  request: \(exchange) (a \(huge.count)-byte body)"))
                    return false
                }
            }
            return true
        }

        @Test("random credentials on every authenticated route get 401 with a JSON error")
        func credentials() async throws {
            try await withServer { world in
                let routes = FuzzRoute.all.filter(\.authenticated)
                let admin = world.server.token
                return await fuzz(iterations: 80, generate: Self.caseGenerator, describe: Self.describe) { start in
                    var rng = start
                    let route = rng.pick(routes, or: routes[0])
                    let header = Self.credential(admin: admin, &rng)
                    let body = route.body.map { world.body(for: $0, &rng) }
                    let (status, data) = try await world.send(route.method, route.plainPath, body: body, authorization: header)
                    let exchange = Exchange(method: route.method, path: route.plainPath, parameters: [], query: [], body: body, status: status, response: data)
                    do {
                        try world.checkAnswer(exchange)
                        try ensure(status == 401, "status \(status) with Authorization \(header.map { String(reflecting: $0) } ?? "absent")")
                    } catch {
                        throw FuzzViolation("\(error)\n  request: \(exchange)")
                    }
                }
            }
        }

        /// An Authorization header that must not authenticate: absent, empty, another scheme, or a token
        /// that is random or one edit away from the admin token.
        static func credential(admin: String, _ rng: inout Xoshiro) -> String? {
            let printable = (0x21...0x7E).compactMap { Unicode.Scalar($0).map(Character.init) }
            let random = String((0..<rng.int(0...80)).map { _ in rng.pick(printable, or: "x") })
            var near = Array(admin)
            switch rng.int(0...3) {
            case 0 where !near.isEmpty: near[rng.int(0...near.count - 1)] = rng.pick(printable, or: "x")
            case 1 where !near.isEmpty: near.removeLast(rng.int(1...near.count))
            case 2: near.append(rng.pick(printable, or: "x"))
            default: near = Array(admin.uppercased())
            }
            let nearText = String(near) == admin ? admin + "x" : String(near)
            return rng.pick([
                nil, "", "Bearer", "Bearer ", "Bearer \t ", "Bearer " + random, "Bearer grt_" + random, "bearer " + random, "Basic " + Data(random.utf8).base64EncodedString(),
                admin, "Token " + admin, "Bearer " + nearText, "Bearer " + nearText + " ",
            ], or: nil)
        }
    }
}
