import Foundation
import Testing
@testable import RMMServer

@Suite("ClusterSignalCodec")
struct ClusterSignalCodecTests {
    static let every: [ClusterSignal] = [
        .work(agentIds: ["ag_1", "ag_2"], batchId: "b_1"),
        .cancel(commandId: "c_1", agentId: "ag_1", reason: "stop: «now» \"quoted\""),
        .evict(agentId: "ag_1", reason: "by ops"),
        .revoke(agentId: "ag_1"),
        .config(version: 7),
        .diagnose(agentId: "ag_1", requestId: "d_9"),
        .renamed(agentId: "ag_1"),
        .superseded(agentId: "ag_1", epoch: 12),
        .batchChanged(batchId: "b_1"),
        .batchChanged(batchId: nil),
        .rescan,
    ]

    @Test("every signal survives a round trip, with the sender's node", arguments: every)
    func roundTrip(signal: ClusterSignal) throws {
        let payload = try #require(ClusterSignalCodec.encode(signal, node: "n_a"))
        #expect(payload.utf8.count <= ClusterSignalCodec.maxPayloadBytes)
        let decoded = try ClusterSignalCodec.decode(payload).get()
        #expect(decoded.signal == signal)
        #expect(decoded.node == "n_a")
    }

    @Test("a work signal naming more agents than fit names its batch alone")
    func largeWorkFallsBackToBatch() throws {
        let ids = (0..<2_000).map { "ag_\(String(repeating: "0", count: 12))\($0)" }
        let payload = try #require(ClusterSignalCodec.encode(.work(agentIds: ids, batchId: "b_big"), node: "n_a"))
        #expect(payload.utf8.count <= ClusterSignalCodec.maxPayloadBytes)
        #expect(try ClusterSignalCodec.decode(payload).get().signal == .work(agentIds: [], batchId: "b_big"))
    }

    @Test("a long reason is cut to the limit, not refused")
    func longReasonIsCut() throws {
        let payload = try #require(ClusterSignalCodec.encode(.evict(agentId: "ag_1", reason: String(repeating: "x", count: 5_000)), node: "n_a"))
        guard case .evict(_, let reason) = try ClusterSignalCodec.decode(payload).get().signal else {
            Issue.record("not an evict")
            return
        }
        #expect(reason.utf8.count == ClusterSignalCodec.maxReasonBytes)
    }

    @Test("hostile payloads are refused whole", arguments: [
        (String(repeating: "{", count: 9_000), "tooLong"),
        ("", "malformed"),
        ("not json", "malformed"),
        ("[1,2,3]", "malformed"),
        (#"{"v":2,"n":"n_a","k":"rescan"}"#, "malformed"),
        (#"{"v":1,"n":"n_a","k":"reboot"}"#, "unknownKind"),
        (#"{"v":1,"n":"bad node!","k":"rescan"}"#, "badField"),
        (#"{"v":1,"n":"","k":"rescan"}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"evict","a":["ag_1'; DROP TABLE agents;--"],"r":"x"}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"evict","a":["ag_1","ag_2"],"r":"x"}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"evict","a":["ag_1"]}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"evict","a":["ag_1"],"r":"a\u0000b"}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"revoke","a":["\u00e9"]}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"revoke","a":["ag_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"superseded","a":["ag_1"],"e":-1}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"superseded","a":["ag_1"]}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"config","e":"7"}"#, "malformed"),
        (#"{"v":1,"n":"n_a","k":"work","a":["ag_1"]}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"work","a":["ag 1"],"i":"b_1"}"#, "badField"),
        (#"{"v":1,"n":"n_a","k":"batchChanged","i":"b/1"}"#, "badField"),
    ] as [(String, String)])
    func hostile(payload: String, refusal: String) {
        switch ClusterSignalCodec.decode(payload) {
        case .success(let decoded): Issue.record("accepted \(decoded.signal)")
        case .failure(let why): #expect("\(why)".hasPrefix(refusal), "\(why)")
        }
    }

    @Test("random bytes never decode to a signal that names a bad id")
    func randomPayloads() {
        var rng = SplitMix(seed: 16)
        let alphabet = Array(#"{}[]":,vnkaire0123456789_-work"rescan\ é"#)
        for _ in 0..<5_000 {
            let length = Int(rng.next() % 120)
            let text = String((0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            if case .success(let decoded) = ClusterSignalCodec.decode(text) {
                #expect(ClusterSignalCodec.isId(decoded.node))
                if let agent = RelayDecision.agent(of: decoded.signal) { #expect(ClusterSignalCodec.isId(agent)) }
            }
        }
    }
}

/// A small seeded generator, so a failure repeats.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
