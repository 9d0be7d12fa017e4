/// A snapshot of the agent host's health, carried in every agent heartbeat.
public struct HostMetrics: Codable, Sendable, Equatable {
    public var cpuPercent: Double?
    public var memoryTotalBytes: Int64?
    public var memoryUsedBytes: Int64?
    public var diskTotalBytes: Int64?
    public var diskUsedBytes: Int64?
    public var load1: Double?
    public var load5: Double?
    public var load15: Double?
    public var uptimeSeconds: Double?

    public init(
        cpuPercent: Double? = nil, memoryTotalBytes: Int64? = nil, memoryUsedBytes: Int64? = nil,
        diskTotalBytes: Int64? = nil, diskUsedBytes: Int64? = nil, load1: Double? = nil,
        load5: Double? = nil, load15: Double? = nil, uptimeSeconds: Double? = nil
    ) {
        self.cpuPercent = cpuPercent
        self.memoryTotalBytes = memoryTotalBytes
        self.memoryUsedBytes = memoryUsedBytes
        self.diskTotalBytes = diskTotalBytes
        self.diskUsedBytes = diskUsedBytes
        self.load1 = load1
        self.load5 = load5
        self.load15 = load15
        self.uptimeSeconds = uptimeSeconds
    }
}
