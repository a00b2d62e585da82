/// Binds the session ids an upstream issues to the caller they were issued to, without remembering either.
///
/// A caller receives the upstream's id `S` as `S.<tag>`: `tag` is the first 16 bytes of
/// HMAC-SHA256(key, len(caller) ‖ caller ‖ S) (`len` four bytes, big-endian), in unpadded base64url: 22 characters of
/// `A-Z a-z 0-9 - _`. The tag has a fixed length and is read from the end, so an `S` holding dots is read back whole,
/// and the bound id is visible ASCII (0x21–0x7E) whenever `S` is, as MCP asks of session ids. A caller presenting the
/// id back has it checked against its own identity, in constant time, and the upstream sees `S` alone; an id issued to
/// another caller, one with no tag, or one with any character changed is not bound to this caller.
///
/// The key is derived from the configured secrets (`init(secrets:)`, its own label, never the offer key itself), so
/// every instance sharing the secrets checks the ids any of them issued; with several keys in the ring (a rotation),
/// the first binds and every one checks. `perProcess()` draws a random key instead: ids issued by one process are then
/// refused by every other one and after a restart.
public struct SessionBinder: Sendable {
    let keys: KeyRing

    /// The label the binding key is derived under (HMAC-SHA256(secret, label), as the contract and audit keys are).
    static let label = "tollgate mcp session binding key v1"
    /// The tag's bytes (128 bits of the MAC) and its length in base64url.
    static let tagBytes = 16
    static let tagLength = 22
    static let separator = UInt8(ascii: ".")

    /// A binder whose key is derived from the gateway's secrets (the offer keys' ring).
    public init(secrets: KeyRing) {
        keys = secrets.derived(label: Self.label)
    }

    /// A binder with a random key of this process alone, for a door built without the gateway's secrets.
    public static func perProcess() -> SessionBinder {
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return SessionBinder(keys: KeyRing([SecretKey(id: "process", secret: secret)!])!)
    }

    init(keys: KeyRing) { self.keys = keys }

    /// `session` as `caller` receives it: with the tag that binds it to `caller`.
    public func bound(_ session: String, to caller: String) -> String {
        session + "." + tag(session, caller: caller, key: keys.current)
    }

    /// The upstream's own id inside `presented`, when `presented` was bound to `caller` by this binder's keys; nil
    /// otherwise (no tag, a changed character, another caller's).
    public func unbound(_ presented: String, for caller: String) -> String? {
        let bytes = Array(presented.utf8)
        guard bytes.count > Self.tagLength + 1, bytes[bytes.count - Self.tagLength - 1] == Self.separator else { return nil }
        let session = String(decoding: bytes[..<(bytes.count - Self.tagLength - 1)], as: UTF8.self)
        let presentedTag = Array(bytes[(bytes.count - Self.tagLength)...])
        // Every key is tried, to the end: the time taken says nothing about which key, or which byte, came close.
        var matched = false
        for key in keys.keys {
            matched = ConstantTime.equal(Array(tag(session, caller: caller, key: key).utf8), presentedTag) || matched
        }
        return matched ? session : nil
    }

    private func tag(_ session: String, caller: String, key: SecretKey) -> String {
        let callerBytes = Array(caller.utf8)
        let length = UInt32(truncatingIfNeeded: callerBytes.count)
        var message = [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        message += callerBytes
        message += Array(session.utf8)
        return Base64URL.encode(Array(key.mac(message).prefix(Self.tagBytes)))
    }
}
