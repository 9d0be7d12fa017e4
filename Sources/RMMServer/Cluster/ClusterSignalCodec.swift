import Foundation

/// The text form of a `ClusterSignal` in a PostgreSQL NOTIFY payload (at most 8000 bytes), and
/// its validation: a payload is hostile input — any client of the database may NOTIFY — so it is
/// bounded before it is parsed, every id must look like an id, every text is bounded, and a
/// payload that fails is dropped whole (its content is never logged).
enum ClusterSignalCodec {
    /// The largest payload PostgreSQL carries (bytes) less room for the envelope.
    static let maxPayloadBytes = 7_900
    /// The longest id accepted (agent, command, batch and request ids are far shorter).
    static let maxIdBytes = 64
    /// The longest reason accepted, in bytes.
    static let maxReasonBytes = 1_024

    private struct Wire: Codable {
        var v: Int
        /// The sending node's instance id (a node drops its own signals).
        var n: String
        var k: String
        var a: [String]?
        var i: String?
        var r: String?
        var e: Int?
    }

    /// The payload for `signal` from node `node`; a `work` naming more agents than fit names
    /// its batch alone. Nil only for a signal that cannot be sent (an id too long to be one).
    static func encode(_ signal: ClusterSignal, node: String) -> String? {
        if let payload = encodeWhole(signal, node: node) { return payload }
        guard case .work(_, let batchId) = signal else { return nil }
        return encodeWhole(.work(agentIds: [], batchId: batchId), node: node)
    }

    private static func encodeWhole(_ signal: ClusterSignal, node: String) -> String? {
        var wire = Wire(v: 1, n: node, k: "")
        switch signal {
        case .work(let agentIds, let batchId): wire.k = "work"; wire.a = agentIds; wire.i = batchId
        case .cancel(let commandId, let agentId, let reason): wire.k = "cancel"; wire.i = commandId; wire.a = [agentId]; wire.r = reason
        case .evict(let agentId, let reason): wire.k = "evict"; wire.a = [agentId]; wire.r = reason
        case .revoke(let agentId): wire.k = "revoke"; wire.a = [agentId]
        case .config(let version): wire.k = "config"; wire.e = version
        case .diagnose(let agentId, let requestId): wire.k = "diagnose"; wire.a = [agentId]; wire.i = requestId
        case .renamed(let agentId): wire.k = "renamed"; wire.a = [agentId]
        case .superseded(let agentId, let epoch): wire.k = "superseded"; wire.a = [agentId]; wire.e = epoch
        case .batchChanged(let batchId): wire.k = "batchChanged"; wire.i = batchId
        case .rescan: wire.k = "rescan"
        }
        if let reason = wire.r, reason.utf8.count > maxReasonBytes { wire.r = String(decoding: reason.utf8.prefix(maxReasonBytes), as: UTF8.self) }
        guard let data = try? JSONEncoder().encode(wire), data.count <= maxPayloadBytes else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Why a payload was refused, in words that quote none of it.
    enum Refusal: Error, Equatable {
        case tooLong(bytes: Int)
        case malformed
        case unknownKind
        case badField(String)
    }

    /// The signal in `payload` and the node that sent it, or why it was refused.
    static func decode(_ payload: String) -> Result<(signal: ClusterSignal, node: String), Refusal> {
        let bytes = payload.utf8.count
        guard bytes <= maxPayloadBytes else { return .failure(.tooLong(bytes: bytes)) }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(payload.utf8)), wire.v == 1 else { return .failure(.malformed) }
        guard isId(wire.n) else { return .failure(.badField("n")) }
        do {
            return .success((try signal(of: wire), wire.n))
        } catch let refusal as Refusal {
            return .failure(refusal)
        } catch {
            return .failure(.malformed)
        }
    }

    private static func signal(of wire: Wire) throws -> ClusterSignal {
        switch wire.k {
        case "work":
            let ids = wire.a ?? []
            guard ids.allSatisfy(isId) else { throw Refusal.badField("a") }
            return .work(agentIds: ids, batchId: try id(wire.i, "i"))
        case "cancel": return .cancel(commandId: try id(wire.i, "i"), agentId: try agent(wire), reason: try reason(wire.r))
        case "evict": return .evict(agentId: try agent(wire), reason: try reason(wire.r))
        case "revoke": return .revoke(agentId: try agent(wire))
        case "config": return .config(version: try count(wire.e))
        case "diagnose": return .diagnose(agentId: try agent(wire), requestId: try id(wire.i, "i"))
        case "renamed": return .renamed(agentId: try agent(wire))
        case "superseded": return .superseded(agentId: try agent(wire), epoch: try count(wire.e))
        case "batchChanged": return .batchChanged(batchId: try wire.i.map { try id($0, "i") })
        case "rescan": return .rescan
        default: throw Refusal.unknownKind
        }
    }

    /// Whether `text` looks like one of the server's ids: 1 to 64 ASCII letters, digits, `_` or `-`.
    static func isId(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard (1...maxIdBytes).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
    }

    private static func id(_ text: String?, _ field: String) throws -> String {
        guard let text, isId(text) else { throw Refusal.badField(field) }
        return text
    }

    private static func agent(_ wire: Wire) throws -> String {
        guard let ids = wire.a, ids.count == 1 else { throw Refusal.badField("a") }
        return try id(ids[0], "a")
    }

    private static func reason(_ text: String?) throws -> String {
        guard let text, text.utf8.count <= maxReasonBytes, !text.utf8.contains(0) else { throw Refusal.badField("r") }
        return text
    }

    private static func count(_ value: Int?) throws -> Int {
        guard let value, value >= 0 else { throw Refusal.badField("e") }
        return value
    }
}
