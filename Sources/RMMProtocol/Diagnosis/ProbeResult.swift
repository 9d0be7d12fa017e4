/// One data-frame echo a diagnosis sent, and what came of it.
public struct ProbeResult: Codable, Sendable, Equatable {
    /// Frame size in bytes.
    public var size: Int
    /// `text`, `binary` or `poll`: how the frame travelled.
    public var encoding: String
    public var shape: Probe.Shape
    public var passed: Bool
    public var rttMs: Double?

    public init(size: Int, encoding: String, shape: Probe.Shape, passed: Bool, rttMs: Double?) {
        self.size = size
        self.encoding = encoding
        self.shape = shape
        self.passed = passed
        self.rttMs = rttMs
    }
}

/// The probe plan every diagnosis follows (the clamp a size blackhole asks for is `PacketLimits.clampedMSS`).
public enum LinkProbePlan {
    /// Data echo sizes, smallest first (bytes per frame).
    public static let sizes = [64, 1024, 4096, 16_384, 65_536]
    /// Size of the command-shaped echo, and of the binary one tried after a lost command shape.
    public static let commandShapeBytes = 4096
    /// Seconds to wait for one probe's reply or the ping's pong.
    public static let probeTimeout = 3.0
    /// Seconds to wait for a fresh agent report when pongs pass and data does not.
    public static let agentReportTimeout = 20.0
    /// Seconds between the two writability looks.
    public static let writabilityRecheck = 1.0
    /// How old an agent report saying "consumer stalled" may be and still count.
    public static let stalledReportFreshness = 30.0
}
