import Foundation
import PropertyBased
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// The command fast path (`CommandWire`) must only ever agree with Foundation's coders: what it
/// writes decodes the general way to the same envelope, and whatever it reads, the general decoder
/// reads the same way (or it declines and leaves the frame to the general decoder).
@Suite("Command fast path")
struct CommandWireTests {
    static let codec = WireCodec()

    /// The builders of the four message types the fast path covers, from `WireGen.messages`.
    static let covered: [@Sendable (inout RNG) -> Message] = {
        var rng: RNG = Xoshiro(seed: (5, 6, 7, 8))
        return WireGen.messages.filter { ["command", "command_ack", "started", "result"].contains($0(&rng).type) }
    }()

    static let envelopes = Generator<Envelope, Shrink.None<Envelope>> { rng in
        WireGen.envelope(WireGen.pick(covered, &rng)(&rng), &rng)
    }

    static func general(_ data: Data) -> Result<Envelope, WireDecodeError> {
        do { return .success(try codec.generalDecode(data)) } catch { return .failure(error) }
    }

    static func fast(_ data: Data) -> Envelope? { data.withUnsafeBytes(CommandWire.decode) }

    @Test("four message types are covered")
    func coversFourTypes() {
        #expect(Self.covered.count == 4)
    }

    @Test("what the fast path writes, the general decoder reads as the same envelope; what either writes, the fast path reads the same or declines")
    func agreesBothWays() async {
        var taken = 0
        await Self.envelopes.fuzz(iterations: 2000) { envelope in
            let fastWritten = try #require(CommandWire.encode(envelope), "the fast path declined to write \(envelope)")
            try ensure(try Self.codec.encode(envelope) == fastWritten, "the codec does not use the fast path")
            try ensure(Self.general(fastWritten) == .success(envelope), "fast-written \(DamagedFrame.show(fastWritten)) reads back differently")
            let read = Self.fast(fastWritten)
            try ensure(read == nil || read == envelope, "the fast path misreads its own frame \(DamagedFrame.show(fastWritten))")
            if read != nil { taken += 1 }
            let foundation = try Self.codec.generalEncode(envelope)
            let again = Self.fast(foundation)
            try ensure(again == nil || again == envelope, "the fast path misreads \(DamagedFrame.show(foundation))")
        }
        #expect((FuzzSettings.current.iterations ?? 2000) < 100 || taken > 0, "the fast path read none of its own frames")
    }

    @Test("on damaged frames of every type the fast path accepts only what the general decoder accepts, as the same envelope")
    func damagedNeverDisagree() async {
        await WireDamage.frames.fuzz(iterations: 3000) { frame in
            guard let read = Self.fast(frame.bytes) else { return }
            try ensure(Self.general(frame.bytes) == .success(read), "fast path read \(frame) as \(read); the general decoder: \(Self.general(frame.bytes))")
        }
        // Small damage to plain command frames: mostly still frames the fast path reads.
        let damaged = Generator<Data, Shrink.None<Data>> { rng in
            WireGen.nicked(Data(WireGen.pick(Self.plainFrames, &rng).utf8), &rng)
        }
        var taken = 0
        await damaged.fuzz(iterations: 3000) { data in
            guard let read = Self.fast(data) else { return }
            taken += 1
            try ensure(Self.general(data) == .success(read), "fast path read \(DamagedFrame.show(data)) as \(read); the general decoder: \(Self.general(data))")
        }
        #expect((FuzzSettings.current.iterations ?? 3000) < 100 || taken > 0, "no damaged frame was still one the fast path read")
    }

    /// Frames as the server and the agents write them in a fan-out.
    static let plainFrames = [
        #"{"ack":3,"body":{"command_id":"c_019ad3f1a2b3f00dbeefcafe1234","expires_at":1764483872,"kind":"shell","signature":"q83vEjRWeJA=","text":"true","timeout_seconds":60},"seq":7,"t":"command","v":2}"#,
        #"{"ack":7,"body":{"command_id":"c_1","duplicate":false},"seq":4,"t":"command_ack","v":2}"#,
        #"{"body":{"command_id":"c_1","pid":4242,"time":1764483812.25},"seq":5,"t":"started","v":2}"#,
        #"{"ack":7,"body":{"command_id":"c_1","exit_code":0,"finished_at":1764483812.5,"started_at":1764483812.25,"status":"succeeded","stderr":"","stderr_truncated":false,"stdout":"b2sK","stdout_truncated":false},"seq":6,"t":"result","v":2}"#,
        #"{"body":{"command_id":"c_1","finished_at":1764483812.5,"reason":"killed after 60 s","signal":9,"status":"timed_out","stderr":"","stderr_truncated":false,"stdout":"","stdout_truncated":true},"seq":6,"t":"result","v":2}"#,
    ]

    @Test("the plain frames read the same both ways, and write back byte for byte as Foundation writes them", arguments: plainFrames)
    func plainFrame(_ frame: String) throws {
        let data = Data(frame.utf8)
        let read = try #require(Self.fast(data))
        #expect(Self.general(data) == .success(read))
        #expect(try Self.codec.encode(read) == data)
        #expect(try Self.codec.generalEncode(read) == data)
    }

    @Test("frames the general decoder must judge are left to it", arguments: [
        #"{"body":{"command_id":"c_1","duplicate":false},"seq":4,"t":"command_ack","v":3}"#,  // unsupported version: its error
        #"{"body":{"command_id":"c_1","duplicate":false},"t":"command_ack","v":2}"#,  // a reliable message without a seq
        #"{"body":{"command_id":"c_1","duplicate":false},"seq":0,"t":"command_ack","v":2}"#,
        #"{"ack":-1,"body":{"command_id":"c_1","duplicate":false},"seq":1,"t":"command_ack","v":2}"#,
        #"{"body":{"command_id":"c_1","duplicate":false}, "seq":1,"t":"command_ack","v":2}"#,  // whitespace
        #"{"body":{"command_id":"c\"1","duplicate":false},"seq":1,"t":"command_ack","v":2}"#,  // an escape
        #"{"body":{"command_id":"c_1","duplicate":null},"seq":1,"t":"command_ack","v":2}"#,
        #"{"body":{"command_id":"c_1","duplicate":0},"seq":1,"t":"command_ack","v":2}"#,
        #"{"body":{"command_id":"c_1","duplicate":false,"extra":1},"seq":1,"t":"command_ack","v":2}"#,  // a key no field takes
        #"{"body":{"command_id":"c_1","command_id":"c_2","duplicate":false},"seq":1,"t":"command_ack","v":2}"#,  // a repeated key
        #"{"body":{"command_id":"c_1"},"seq":1,"t":"command_ack","v":2}"#,  // a missing field
        #"{"body":{"command_id":"c_1","duplicate":false},"seq":1,"t":"cancel","v":2}"#,  // another type
        #"{"body":{"command_id":"c_1","duplicate":false},"seq":1,"t":"command_ack","t":"command_ack","v":2}"#,
        #"{"body":{"command_id":"c_1","pid":2147483648,"time":1},"seq":1,"t":"started","v":2}"#,  // pid beyond Int32
        #"{"body":{"command_id":"c_1","pid":1.0,"time":1},"seq":1,"t":"started","v":2}"#,
        #"{"body":{"command_id":"c_1","time":1e9},"seq":1,"t":"started","v":2}"#,  // an exponent
        #"{"body":{"command_id":"c_1","time":01},"seq":1,"t":"started","v":2}"#,  // not JSON
        #"{"body":{"command_id":"c_1","finished_at":1,"status":"done","stderr":"","stderr_truncated":false,"stdout":"","stdout_truncated":false},"seq":1,"t":"result","v":2}"#,
        #"{"body":{"command_id":"c_1","finished_at":1,"status":"failed","stderr":"%%%","stderr_truncated":false,"stdout":"","stdout_truncated":false},"seq":1,"t":"result","v":2}"#,
        #"{"body":{"command_id":"c_1","kind":"shell","text":"true","timeout_seconds":60,"valid_for_seconds":60,"expires_at":{}},"seq":1,"t":"command","v":2}"#,
        #"{"body":{"command_id":"c_1","kind":"batch","text":"true","timeout_seconds":60,"valid_for_seconds":60},"seq":1,"t":"command","v":2}"#,
    ])
    func declines(_ frame: String) {
        #expect(Self.fast(Data(frame.utf8)) == nil)
    }

    @Test("a string in any valid UTF-8 reads as the general decoder reads it; invalid UTF-8 is left to it")
    func utf8() {
        let frame = #"{"body":{"command_id":"日本🦀é","duplicate":true},"seq":1,"t":"command_ack","v":2}"#
        #expect(Self.fast(Data(frame.utf8)) == Envelope(.commandAck(CommandAck(commandId: "日本🦀é", duplicate: true)), seq: 1))
        var invalid = Data(frame.utf8)
        invalid[invalid.firstIndex(of: 0xE6) ?? 0] = 0xFF
        #expect(Self.fast(invalid) == nil)
    }
}
