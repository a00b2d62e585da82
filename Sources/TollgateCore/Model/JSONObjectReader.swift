/// Reads a parsed JSON object (`StrictJSON.parse`) into a message type by hand, with the rules of the synthesized
/// `Decodable` conformances it replaces on hot paths: a required member must be present with its type, an optional
/// one may be absent or null, a present member of another type refuses the whole message, unknown members are ignored.
///
/// Each accessor answers nil when the message is refused; an optional member answers `.some(nil)` when absent.
public struct JSONObjectReader {
    /// The object's members, for values read whole (an `extra` or `extensions` tree).
    public let members: [String: JSONValue]

    /// Nil when `value` is not an object.
    public init?(_ value: JSONValue?) {
        guard case .object(let members)? = value else { return nil }
        self.members = members
    }

    /// A required string member.
    public func string(_ key: String) -> String? { members[key]?.string }

    /// A whole number: as `JSONDecoder` reads an `Int`, `2.0` and `2e0` count.
    public func int(_ key: String) -> Int? { members[key]?.int }

    /// A required boolean member.
    public func bool(_ key: String) -> Bool? { members[key]?.bool }

    /// A required object member.
    public func object(_ key: String) -> JSONObjectReader? { JSONObjectReader(members[key]) }

    /// An optional string member: `.some(nil)` when absent or null.
    public func optionalString(_ key: String) -> String?? {
        optional(key) { $0.string }
    }

    /// An optional whole number: `.some(nil)` when absent or null.
    public func optionalInt(_ key: String) -> Int?? {
        optional(key) { $0.int }
    }

    /// An optional object member: `.some(nil)` when absent or null.
    public func optionalObject(_ key: String) -> JSONObjectReader?? {
        optional(key) { JSONObjectReader($0) }
    }

    /// `.some(nil)` for an absent or null member, `.some(value)` for one `read` accepts, nil otherwise.
    func optional<Value>(_ key: String, _ read: (JSONValue) -> Value?) -> Value?? {
        guard let value = members[key], value != .null else { return .some(nil) }
        return read(value).map { .some($0) }
    }
}
