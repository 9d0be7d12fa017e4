import Crypto
import Foundation
import PropertyBased
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import RMMTransport

/// A JSON value as the fuzzer writes it: numbers as raw text (so `1e999` and `-0` can be sent) and
/// objects as ordered pairs (so a key can appear twice).
enum FuzzJSON: Sendable, CustomStringConvertible {
    case null, bool(Bool), number(String), string(String), array([FuzzJSON]), object([(String, FuzzJSON)])

    static func int(_ value: Int) -> FuzzJSON { .number(String(value)) }
    static func double(_ value: Double) -> FuzzJSON { .number(value.description) }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text): return text
        case .string(let s): return Self.quote(s)
        case .array(let items): return "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object(let pairs): return "{" + pairs.map { Self.quote($0.0) + ":" + $0.1.description }.joined(separator: ",") + "}"
        }
    }

    var data: Data { Data(description.utf8) }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Drawing values with the generator of one fuzz case.
extension Xoshiro {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ oneIn: Int) -> Bool { int(1...oneIn) == 1 }
    mutating func pick<T>(_ values: [T], or fallback: T) -> T { values.isEmpty ? fallback : values[int(0...values.count - 1)] }
    mutating func pick(_ values: [String]) -> String { pick(values, or: "") }
    mutating func text() -> String { FuzzText.draw(&self) }

    /// Numbers as a JSON field might carry them: edges of every width, exponents, and what JSON forbids.
    mutating func numberText() -> String {
        switch int(0...3) {
        case 0:
            return pick(["0", "-0", "1", "-1", "0.5", "1e308", "-1e308", "1e999", "-1e999", "1e-999", "5e-324", "9223372036854775807",
                         "9223372036854775808", "-9223372036854775809", "18446744073709551616", "2147483648", "3600", "86400", "604801",
                         "31536001", "1E3", "1e+2", "01", "NaN", "Infinity", "-", "1.", ".5", "0x10"])
        case 1: return String(Int.random(in: .min ... .max, using: &self))
        case 2: return Double.random(in: -1e7...1e7, using: &self).description
        default: return String(int(-5...100_000))
        }
    }

    /// A JSON value of any kind: the wrong type for nearly every field.
    mutating func anyJSON(depth: Int = 0) -> FuzzJSON {
        switch int(0...7) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &self))
        case 2: return .number(numberText())
        case 3: return .string(chance(8) ? String(repeating: pick(FuzzText.pieces), count: int(10_000...300_000)) : text())
        case 4 where depth < 3: return .array((0..<int(0...4)).map { _ in anyJSON(depth: depth + 1) })
        case 5 where depth < 3: return .object((0..<int(0...4)).map { _ in (text(), anyJSON(depth: depth + 1)) })
        default: return .string(text())
        }
    }
}

/// One request as sent and answered, with what is needed to judge it.
struct Exchange: CustomStringConvertible {
    var method: String
    var path: String
    /// The path parameters as the server should read them (before percent-encoding).
    var parameters: [String]
    var query: [(String, String)]
    var body: Data?
    var status: Int
    var response: Data

    /// The value the server reads when a name repeats: the first.
    func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }

    var description: String {
        func cut(_ data: Data) -> String {
            let text = String(decoding: data.prefix(400), as: UTF8.self)
            return data.count > 400 ? text + "… (\(data.count) bytes)" : text
        }
        return "\(method) \(path.count > 300 ? String(path.prefix(300)) + "…" : path)"
            + (body.map { " body " + cut($0) } ?? "") + " → \(status) " + cut(response)
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try APICoding.decoder().decode(T.self, from: response)
        } catch {
            throw FuzzViolation("a \(status) answer is not a \(T.self): \(error)")
        }
    }

    func decodeBody<T: Decodable>(_ type: T.Type) -> T? { body.flatMap { try? APICoding.decoder().decode(T.self, from: $0) } }
}

/// Kinds of path parameter; each draws from its own pool of live values (or junk).
enum PathKind: String, CaseIterable {
    case agent, victim, command, batch, token, enrollmentToken
}

/// What the fuzzer knows of the server's state: live ids to put in paths, and what 2xx answers promised.
final class APIFuzzWorld {
    let server: E2EServer
    var api: TestAPI { server.api }
    var agents: [(id: String, name: String)] = []
    var victims: [(id: String, name: String)] = []
    var revoked: Set<String> = []
    var commands: [String] = []
    var batches: [String] = []
    var tokens: [(id: String, secret: String)] = []
    var enrollmentTokens: [String] = []
    var config = AgentConfig.defaults
    var serverKeyPart: String?

    init(server: E2EServer) {
        self.server = server
    }

    /// Enrolls agents over a raw WebSocket (no agent process, so commands only ever queue) and reads the config.
    func populate() async throws {
        let token = try await api.enrollToken(uses: 20)
        serverKeyPart = WorkSigning.splitEnrollmentToken(token).serverKey.map(WorkSigning.tokenKeyPart)
        // Two agents propose the same name (the server names the second "twin-2"); one name needs percent-encoding.
        for name in ["fuzz-a", "fuzz-b", "twin", "twin", "fuzz ünï/🦀"] { agents.append(try await enroll(name, token: token)) }
        for i in 1...3 { victims.append(try await enroll("victim-\(i)", token: token)) }
        config = try await api.call("GET", "/api/v1/config")
    }

    private func enroll(_ name: String, token: String) async throws -> (id: String, name: String) {
        let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: server.agentURL))
        defer { link.close(.normal, reason: "enrolled") }
        var events = link.events.makeAsyncIterator()
        guard case .message(let first)? = await nextEvent(&events), case .challenge(let challenge) = first.message else {
            throw E2EError("no challenge from the server")
        }
        let key = Curve25519.Signing.PrivateKey()
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
        let facts = AgentFacts(name: name, hostname: "fuzz", os: "none", version: "0")
        link.send(Envelope(.enroll(Enroll(token: token, publicKey: publicKey, signature: signature, facts: facts, stream: "s"))))
        while let event = await nextEvent(&events) {
            if case .message(let envelope) = event, case .welcome(let welcome) = envelope.message { return (welcome.agentId, welcome.name ?? name) }
            if case .closed(let closure) = event { throw E2EError("enrollment of \(name) refused: \(closure)") }
        }
        throw E2EError("enrollment of \(name) got no answer")
    }

    /// The agent id an id-or-name refers to (names compared case-insensitively), if exactly one agent has it.
    func agentId(for reference: String) -> String? {
        let all = agents + victims
        if let byId = all.first(where: { $0.id == reference }) { return byId.id }
        let named = all.filter { $0.name.lowercased() == reference.lowercased() }
        return named.count == 1 ? named[0].id : nil
    }

    /// Live values for a path parameter of this kind.
    func pool(_ kind: PathKind) -> [String] {
        switch kind {
        case .agent: return agents.flatMap { [$0.id, $0.name] }
        case .victim: return victims.flatMap { [$0.id, $0.name] }
        case .command: return commands
        case .batch: return batches
        case .token: return tokens.map(\.id)
        case .enrollmentToken: return enrollmentTokens
        }
    }

    // MARK: drawing requests

    /// A path value: mostly a live one, else junk (unknown ids, long, odd characters, percent signs).
    func pathValue(_ kind: PathKind, _ rng: inout Xoshiro) -> String {
        let live = pool(kind)
        if !live.isEmpty, rng.int(0...9) < 6 { return rng.pick(live) }
        switch rng.int(0...5) {
        case 5 where !live.isEmpty:
            // One character away from a live value: must not find it (NUL ended lookups early once).
            return rng.pick(live) + rng.pick(["\u{0}", "\u{0}x", "%00", " ", "\n", "x"])
        case 0: return rng.pick(["c_0000000000000000", "b_ffffffffffffffff", "ag_1", "tok_1", "' OR 1=1 --", ".", "..", "%", "%zz", "%00", "%2F"])
        case 1: return String(repeating: rng.pick(["a", "é", "🦀", "%2F"]), count: rng.int(200...3000))
        default: return rng.text()
        }
    }

    /// The value of a query parameter. Numbers that mean a long wait are left out of `wait`: a valid
    /// long poll is allowed to take that long, and the suite has no time for it.
    func queryValue(_ name: String, _ rng: inout Xoshiro) -> String {
        let junk = ["", "abc", "nan", "NaN", "-nan", "+nan", "nan(0x1)", "-inf", "1e-400", "-1e309", "0x10", "9223372036854775808", " 5",
                    "-9223372036854775809", "1_000", "ü", "%00"]
        switch name {
        case "wait": return rng.chance(2) ? rng.pick(junk.filter(Self.isShortWait)) : rng.pick(["0", "-1", "-0", "0.05", "1e-3", "-1e300"])
        case "agent": return rng.chance(2) ? rng.pick(pool(.agent)) : rng.text()
        case "output", "terminal": return rng.chance(2) ? rng.pick(["true", "false"]) : rng.pick(junk + ["TRUE", "1", "yes"])
        case "view": return rng.chance(2) ? rng.pick(["full", "compact"]) : rng.pick(junk + ["FULL", "Compact", "brief", "compact ", "true"])
        default: return rng.chance(2) ? rng.pick(junk + ["inf", "1e309"]) : rng.numberText()
        }
    }

    /// Percent-encodes all but the unreserved characters; a raw value with `%` is sometimes sent as is.
    static func encode(_ text: String, raw: Bool = false) -> String {
        if raw, text.allSatisfy({ $0.isASCII && !$0.isWhitespace && !"/?#\"<>\\^`{|}".contains($0) }) { return text }
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    func body(for kind: FuzzRoute.Body, _ rng: inout Xoshiro) -> Data {
        switch rng.int(0...19) {
        case 0...6: return kind.valid(self, &rng).data
        case 7...13:
            guard case .object(var pairs) = kind.valid(self, &rng) else { return Data() }
            for _ in 0...rng.int(0...2) {
                // Drop a field, repeat a key, give a field a value of any kind, or add a field.
                let at = rng.int(0...max(0, pairs.count - 1)), op = rng.int(0...3)
                if pairs.isEmpty || op == 3 {
                    pairs.append((rng.text(), rng.anyJSON()))
                } else if op == 0 {
                    pairs.remove(at: at)
                } else if op == 1 {
                    pairs.insert((pairs[at].0, rng.anyJSON()), at: at)
                } else {
                    pairs[at].1 = rng.anyJSON()
                }
            }
            return FuzzJSON.object(pairs).data
        case 14...15: return FuzzJSON.object((0..<rng.int(0...5)).map { _ in (rng.text(), rng.anyJSON()) }).data
        default:
            let valid = kind.valid(self, &rng).data
            switch rng.int(0...6) {
            case 0: return Data()
            case 1: return Data(rng.pick(["null", "[]", "\"x\"", "42", "{", "}", "{}", "[{}]", "true", "\u{FEFF}{}"]).utf8)
            case 2: return valid.prefix(rng.int(0...max(0, valid.count - 1)))
            case 3: return Data((0..<rng.int(1...64)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            case 4: return Data((String(repeating: "[", count: rng.int(100...5000)) + "1").utf8)
            case 5: return Data(rng.text().utf8)
            default: return valid + valid
            }
        }
    }

    /// A request to `route` with drawn path parameters, query and body.
    func request(_ route: FuzzRoute, _ rng: inout Xoshiro) -> (path: String, parameters: [String], query: [(String, String)], body: Data?) {
        var path = route.template
        var parameters: [String] = []
        for kind in PathKind.allCases {
            while let range = path.range(of: "{\(kind.rawValue)}") {
                let value = pathValue(kind, &rng)
                parameters.append(value)
                path.replaceSubrange(range, with: Self.encode(value, raw: rng.chance(4)))
            }
        }
        var query = route.query.filter { _ in rng.int(0...9) < 7 }.map { ($0, queryValue($0, &rng)) }
        if rng.chance(5) { query.append((rng.chance(2) ? rng.text() : rng.pick(route.query + ["limit"]), rng.text())) }
        if !query.isEmpty {
            path += "?" + query.map { Self.encode($0.0) + "=" + Self.encode($0.1, raw: rng.chance(5)) }.joined(separator: "&")
        }
        return (path, parameters, query, route.body.map { body(for: $0, &rng) })
    }

    /// A `wait` value that does not ask for a long poll of more than half a second.
    static func isShortWait(_ value: String) -> Bool { Double(value).map { !($0 > 0.5) } ?? true }

    /// Values at the edges of what parses as a number: NaN, infinities, overflow, nothing at all.
    static let queryEdges = ["nan", "NaN", "-nan", "-inf", "1e309", "-1e309", "9223372036854775807", "9223372036854775808",
                             "-9223372036854775808", "0", "-1", "0.000001", "", "x"]

    /// Every query parameter of every route at each edge value, the others set so that the route does
    /// its slowest work (a long poll with nothing newer to report). `wait` gets no value that means a long wait.
    func checkQueryEdges() async throws {
        let neutral = ["after": "9223372036854775807", "wait": "0", "limit": "1", "agent": agents.first?.id ?? "x", "output": "true", "terminal": "false", "view": "full"]
        for route in FuzzRoute.all {
            let path = route.path { self.pool($0).first ?? "fuzz" }
            for name in route.query {
                for edge in Self.queryEdges where name != "wait" || Self.isShortWait(edge) {
                    let query = route.query.map { ($0, $0 == name ? edge : neutral[$0] ?? "") }
                    let full = path + "?" + query.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&")
                    let (status, response) = try await send(route.method, full, body: nil)
                    let exchange = Exchange(method: route.method, path: full, parameters: [], query: query, body: nil, status: status, response: response)
                    do {
                        try checkAnswer(exchange)
                    } catch {
                        throw FuzzViolation("\(error)\n  request: \(exchange)")
                    }
                }
            }
        }
    }

    // MARK: judging answers

    /// What every answer owes: no 5xx, a live server, and a JSON error with a message for anything but 2xx.
    func checkAnswer(_ exchange: Exchange) throws {
        try ensure(server.process.isRunning, "the server process died")
        try ensure((200..<500).contains(exchange.status), "status \(exchange.status)")
        if !(200..<300).contains(exchange.status) {
            let object = try? JSONSerialization.jsonObject(with: exchange.response) as? [String: Any]
            let message = (object?["error"] as? [String: Any])?["message"] as? String
            try ensure(!(message ?? "").isEmpty, "a \(exchange.status) answer without a JSON error message")
        }
    }

    /// Sends one drawn request to `route` and checks the answer, generally and with the route's own oracle.
    func exercise(_ route: FuzzRoute, _ rng: inout Xoshiro) async throws {
        try await exercise(route, request(route, &rng))
    }

    /// Every route once with live path values and a valid body, right after a command was queued for the
    /// first agent: each route's 2xx oracle runs at least once, whatever the seed draws.
    func sweep() async throws {
        var rng = Xoshiro(seed: (1, 2, 3, 4))
        let run = FuzzJSON.object([("agents", .array([.string(agents.first?.id ?? "")])), ("command", .string("true"))])
        for route in FuzzRoute.all where route.method == "POST" && route.template == "/api/v1/commands" {
            try await exercise(route, (route.template, [], [], run.data))
        }
        for route in FuzzRoute.all {
            let kinds = PathKind.allCases.filter { route.template.contains("{\($0.rawValue)}") }
            let path = route.path { self.pool($0).first ?? "fuzz" }
            try await exercise(route, (path, kinds.map { pool($0).first ?? "fuzz" }, [], route.body.map { $0.valid(self, &rng).data }))
        }
    }

    private func exercise(_ route: FuzzRoute, _ request: (path: String, parameters: [String], query: [(String, String)], body: Data?)) async throws {
        let (path, parameters, query, body) = request
        let (status, response) = try await send(route.method, path, body: body)
        let exchange = Exchange(method: route.method, path: path, parameters: parameters, query: query, body: body, status: status, response: response)
        do {
            try checkAnswer(exchange)
            // An empty or dot parameter makes the path another route's ("/commands/" is "/commands",
            // "/agents/." is "/agents"), so only the general duties apply.
            if (200..<300).contains(status), !parameters.contains(where: ["", ".", ".."].contains) { try await route.check(exchange, self) }
        } catch {
            throw FuzzViolation("\(error)\n  request: \(exchange)")
        }
    }

    /// Sends a request with the admin token.
    func send(_ method: String, _ path: String, body: Data?) async throws -> (Int, Data) {
        try await send(method, path, body: body, authorization: "Bearer \(server.token)")
    }

    /// Sends a request with this Authorization header (none when nil); no HTTP answer at all (the
    /// connection dropped) is a violation too.
    func send(_ method: String, _ path: String, body: Data?, authorization: String?) async throws -> (Int, Data) {
        do {
            return try await api.send(method, path, body: body, authorization: authorization)
        } catch {
            throw FuzzViolation("no HTTP answer to \(method) \(path.prefix(300)): \(error); server running: \(server.process.isRunning)")
        }
    }

    /// GETs a path with the admin token and decodes a 2xx answer.
    func get<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        let (status, data) = try await send("GET", path, body: nil)
        try ensure((200..<300).contains(status), "GET \(path) answered \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
        return try Exchange(method: "GET", path: path, parameters: [], query: [], body: nil, status: status, response: data).decode(T.self)
    }
}
