import Testing
@testable import TollgateCore

/// The binding of an upstream's session ids to their callers, attacked: another caller's id, the id without its tag,
/// every single character changed, another gateway's key.
@Suite struct SessionBinderTests {
    static let secrets = KeyRing([SecretKey(id: "k1", secret: Array("0123456789abcdef0123456789abcdef".utf8))!])!
    let binder = SessionBinder(secrets: Self.secrets)

    @Test func aBoundIdComesBackToItsCallerAsTheServersOwn() throws {
        let bound = binder.bound("3f2a-session", to: "client:analyst")
        #expect(bound.hasPrefix("3f2a-session."))
        #expect(bound.utf8.count == "3f2a-session".utf8.count + 1 + 22)
        // MCP asks session ids to be visible ASCII: a client may refuse anything else.
        #expect(bound.utf8.allSatisfy { (0x21...0x7E).contains($0) })
        #expect(binder.unbound(bound, for: "client:analyst") == "3f2a-session")
        // The same id, bound again, is the same text: the binding is stateless.
        #expect(binder.bound("3f2a-session", to: "client:analyst") == bound)
    }

    @Test func anotherCallersIdIsNotBoundToThisCaller() {
        let bound = binder.bound("3f2a-session", to: "client:analyst")
        #expect(binder.unbound(bound, for: "client:viewer") == nil)
        #expect(binder.unbound(bound, for: "ip:203.0.113.7/32") == nil)
        #expect(binder.bound("3f2a-session", to: "client:viewer") != bound)
        // The caller and the id are not read as one string: moving a byte from one to the other is another binding.
        #expect(binder.unbound(binder.bound("b-s", to: "client:a"), for: "client:a-") == nil)
        #expect(binder.unbound(binder.bound("s", to: "client:ab"), for: "client:a") == nil)
    }

    @Test func anUntaggedTruncatedOrAlteredIdIsRefused() {
        let bound = binder.bound("3f2a-session", to: "client:analyst")
        #expect(binder.unbound("3f2a-session", for: "client:analyst") == nil)
        #expect(binder.unbound(String(bound.dropLast()), for: "client:analyst") == nil)
        #expect(binder.unbound(bound + "A", for: "client:analyst") == nil)
        #expect(binder.unbound("", for: "client:analyst") == nil)
        #expect(binder.unbound(String(bound.suffix(23)), for: "client:analyst") == nil)
        // Every character, of the id and of the tag, changed in turn (the tag's last character carries two bits of the
        // MAC only, and is still compared as written).
        let bytes = Array(bound.utf8)
        for index in bytes.indices {
            var changed = bytes
            changed[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(binder.unbound(String(decoding: changed, as: UTF8.self), for: "client:analyst") == nil, "character \(index) changed")
        }
    }

    @Test func anIdHoldingDotsIsReadBackWhole() {
        let bound = binder.bound("a.b.c", to: "client:analyst")
        #expect(binder.unbound(bound, for: "client:analyst") == "a.b.c")
        #expect(binder.unbound("a.b." + binder.bound("c", to: "client:analyst"), for: "client:analyst") == nil)
    }

    @Test func instancesSharingTheSecretsAcceptEachOthersIds() {
        let other = SessionBinder(secrets: Self.secrets)
        #expect(other.unbound(binder.bound("s-1", to: "client:analyst"), for: "client:analyst") == "s-1")
        // A rotation: the new key binds, the old one still checks.
        let next = SecretKey(id: "k2", secret: Array("fedcba9876543210fedcba9876543210".utf8))!
        let rotated = SessionBinder(secrets: KeyRing([next] + Self.secrets.keys)!)
        #expect(rotated.unbound(binder.bound("s-1", to: "client:analyst"), for: "client:analyst") == "s-1")
        #expect(binder.unbound(rotated.bound("s-2", to: "client:analyst"), for: "client:analyst") == nil)
    }

    @Test func theBindingKeyIsNotTheOfferKey() {
        // Bound with the secret itself, as the offers are signed: not accepted, the binding has its own derived key.
        let raw = SessionBinder(keys: Self.secrets)
        #expect(binder.unbound(raw.bound("s-1", to: "client:analyst"), for: "client:analyst") == nil)
    }

    @Test func aProcessKeyIsItsOwn() {
        let one = SessionBinder.perProcess(), two = SessionBinder.perProcess()
        #expect(one.unbound(one.bound("s-1", to: "ip:x"), for: "ip:x") == "s-1")
        #expect(two.unbound(one.bound("s-1", to: "ip:x"), for: "ip:x") == nil)
        #expect(binder.unbound(one.bound("s-1", to: "ip:x"), for: "ip:x") == nil)
    }
}
