import Foundation

/// Removes named fields, at any depth, from a JSON document: the post-payment permission that keeps
/// private fields from clients without the scope to see them.
public enum JSONFieldFilter {
    /// The filtered document and how many fields were removed; nil when the body is not JSON (the
    /// caller then fails closed rather than deliver unfiltered data).
    public static func strip(_ body: [UInt8], fields: Set<String>) -> (body: [UInt8], removed: Int)? {
        // An empty body (204, HEAD, an empty error) holds no field.
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return (body, 0) }
        guard let document = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return nil }
        var removed = 0
        let filtered = strip(document, fields: fields, removed: &removed)
        guard removed > 0 else { return (body, 0) }
        guard let data = try? JSONSerialization.data(withJSONObject: filtered, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return nil }
        return (Array(data), removed)
    }

    private static func strip(_ value: Any, fields: Set<String>, removed: inout Int) -> Any {
        if let object = value as? [String: Any] {
            var result: [String: Any] = [:]
            for (key, member) in object {
                if fields.contains(key) {
                    removed += 1
                } else {
                    result[key] = strip(member, fields: fields, removed: &removed)
                }
            }
            return result
        }
        if let array = value as? [Any] {
            return array.map { strip($0, fields: fields, removed: &removed) }
        }
        return value
    }
}
