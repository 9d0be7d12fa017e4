/// Ids the store makes for the rows it creates (agents, tokens), the same form on every backend.
enum RecordId {
    /// A fresh random lowercase id such as `ag_0123456789abcdef`.
    static func random(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() as UInt64, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
