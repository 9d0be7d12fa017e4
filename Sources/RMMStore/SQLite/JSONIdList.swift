import Foundation
import RMMProtocol

/// A list of ids as the JSON array the store's queries read with `json_each` (no limit on bound
/// variables). Written by hand: a batch stream sends this list with every page of output chunks,
/// and Foundation's encoder spent about 0.1 s on those lists per 10,000-agent `run --all`.
enum JSONIdList {
    static func text(_ ids: some Sequence<String>) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for id in ids {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(json: id)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }
}
