import Crypto
import Foundation
import Testing
@testable import TollgateCore

@Suite struct OfferSignerTests {
    static let old = SecretKey(id: "old", secret: Array(repeating: 1, count: 32))!
    static let new = SecretKey(id: "new", secret: Array(repeating: 2, count: 32))!
    static let offer = Offer(
        correlationId: "tg_0123", resource: "datasets", request: "GET /datasets/prices?day=1", bodyDigest: nil, client: "alice",
        network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", amount: TokenAmount(atomic: "10000")!,
        payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", unit: "request", quantity: 1, maxTimeoutSeconds: 120,
        expiresAt: 1_750_000_060)

    static func signer(_ keys: SecretKey...) -> OfferSigner { OfferSigner(keys: KeyRing(keys)!) }

    @Test func roundTrip() throws {
        let signer = Self.signer(Self.new)
        let signed = signer.sign(Self.offer)
        #expect(signed.offer == Self.offer)
        #expect(signed.token.hasPrefix("new."))
        #expect(try signer.verify(signed.token).get() == Self.offer)
        #expect(Self.offer.asset == "0x036cbd53842c5426634e7929541ec2318f3dcf7e")
    }

    /// The token's form is fixed (tokens in flight outlive a restart onto a new build): `<key id>.<base64url(claims)>.
    /// <base64url(HMAC-SHA256 over "tollgate-offer-v1." + the first two parts)>`, recomputed here with swift-crypto.
    @Test func theTokenIsItsClaimsAndTheirMACInTheDocumentedForm() throws {
        let secret = Array(repeating: UInt8(2), count: 32)
        for client in ["alice", "bob \"é\"", String(repeating: "x", count: 301)] {
            var offer = Self.offer
            offer.client = client
            let token = Self.signer(Self.new).sign(offer).token
            let signed = "new." + Base64URL.encode(OfferSigner.claims(offer))
            let mac = HMAC<SHA256>.authenticationCode(for: Array(("tollgate-offer-v1." + signed).utf8), using: SymmetricKey(data: secret))
            #expect(token == signed + "." + Base64URL.encode(Array(mac)))
        }
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")

    /// Edits of `token` at `positions` (every other character of the token alphabet) that still verify.
    static func acceptedEdits(of token: [Character], at positions: some Sequence<Int>, signer: OfferSigner) -> [String] {
        var accepted: [String] = []
        for index in positions {
            for replacement in Self.alphabet where replacement != token[index] {
                var edited = token
                edited[index] = replacement
                if case .success = signer.verify(String(edited)) { accepted.append("position \(index) → \(replacement)") }
            }
        }
        return accepted
    }

    /// Every position but the MAC's last character, every other character of the token alphabet: no edit verifies.
    @Test func anySingleCharacterChangeFails() {
        let signer = Self.signer(Self.new)
        let token = Array(signer.sign(Self.offer).token)
        let accepted = Self.acceptedEdits(of: token, at: token.indices.dropLast(), signer: signer)
        #expect(accepted.isEmpty, "edited tokens that still verify: \(accepted)")
    }

    /// The MAC is 32 bytes, so its unpadded base64url has 2 spare bits in the last character. `Base64URL.decode`
    /// ignores them, so 3 other last characters decode to the same MAC: the token text is malleable.
    @Test func changingTheMACsLastCharacterFails() {
        let signer = Self.signer(Self.new)
        let token = Array(signer.sign(Self.offer).token)
        let accepted = Self.acceptedEdits(of: token, at: [token.count - 1], signer: signer)
        #expect(accepted.isEmpty, "edited tokens that still verify: \(accepted)")
    }

    @Test func truncatedOrExtendedTokensFail() {
        let signer = Self.signer(Self.new)
        let token = signer.sign(Self.offer).token
        #expect(throws: OfferSigner.Failure.self) { try signer.verify(String(token.dropLast())).get() }
        #expect(throws: OfferSigner.Failure.self) { try signer.verify(token + "A").get() }
        #expect(throws: OfferSigner.Failure.self) { try signer.verify("").get() }
    }

    /// A token is ASCII: a non-ASCII byte anywhere (a combining mark after a separator, which a split on characters
    /// would not have seen as one) is malformed, and so is a token with more or fewer than three parts.
    @Test func aTokenIsThreeASCIIParts() throws {
        let signer = Self.signer(Self.new)
        let token = signer.sign(Self.offer).token
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.count == 3)
        for bad in [parts[0] + ".\u{301}" + parts[1] + "." + parts[2], token + "\u{301}", "é" + token, parts[0] + "." + parts[1],
                    token + ".", "." + token, parts[0] + "." + parts[1] + ".." + parts[2], ""] {
            #expect(signer.verify(bad) == .failure(.malformed), "\(bad.prefix(40))")
        }
        #expect(signer.verify("nokey." + parts[1] + "." + parts[2]) == .failure(.unknownKey))
        let otherLast = parts[2].hasSuffix("A") ? "B" : "A"
        #expect(signer.verify(parts[0] + "." + parts[1] + "." + String(parts[2].dropLast()) + otherLast) == .failure(.badSignature))
        #expect(try signer.verify(token).get() == Self.offer)
    }

    /// A key id names its key inside every token: printable ASCII without dots or spaces, checked on bytes (a dot with a
    /// combining mark is one `Character`, and would still split the token), so every token a key signs verifies.
    @Test func keyIdsArePrintableASCIIWithoutDots() throws {
        let secret = Array(repeating: UInt8(9), count: 32)
        for bad in ["", "k.1", "k 1", "k.\u{301}", "clé", "k\u{0}", "k\t1", "ключ"] {
            #expect(SecretKey(id: bad, secret: secret) == nil, "\(bad.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        for good in ["k1", "key-2026_01", "a:b", "K~"] {
            let key = try #require(SecretKey(id: good, secret: secret))
            let signer = OfferSigner(keys: try #require(KeyRing([key])))
            #expect(try signer.verify(signer.sign(Self.offer).token).get() == Self.offer, "\(good)")
        }
    }

    @Test func tokenOfAnotherSecretWithTheSameKeyIdFails() {
        let forger = Self.signer(SecretKey(id: "new", secret: Array(repeating: 3, count: 32))!)
        let token = forger.sign(Self.offer).token
        #expect(Self.signer(Self.new).verify(token) == .failure(.badSignature))
    }

    @Test func tokenOfARotatedOutKeyVerifiesWhileTheKeyIsInTheRing() throws {
        let token = Self.signer(Self.old).sign(Self.offer).token
        let rotated = Self.signer(Self.new, Self.old)
        #expect(try rotated.verify(token).get() == Self.offer)
        #expect(rotated.sign(Self.offer).token.hasPrefix("new."))
        #expect(Self.signer(Self.new).verify(token) == .failure(.unknownKey))
    }

    /// Claims are read by hand (`Offer(claims:)`), as the decoder read them; a token whose MAC is good but whose claims
    /// the gateway never wrote (one missing, one of another type, one repeated) is malformed, never an offer with a gap.
    @Test func claimsReadAsTheDecoderReadThemAndNothingElse() throws {
        var withDigest = Self.offer
        withDigest.bodyDigest = String(repeating: "ab", count: 32)
        for offer in [Self.offer, withDigest] {
            let claims = OfferSigner.claims(offer)
            let byHand = Offer(claims: try StrictJSON.parse(claims).get())
            #expect(byHand == offer)
            #expect(byHand == (try JSONDecoder().decode(Offer.self, from: Data(claims))))
        }
        let written = String(decoding: OfferSigner.claims(Self.offer), as: UTF8.self)
        let altered = [
            written.replacingOccurrences(of: #""qty":1,"#, with: ""),
            written.replacingOccurrences(of: #""qty":1"#, with: #""qty":"1""#),
            written.replacingOccurrences(of: #""amt":"10000""#, with: #""amt":"-1""#),
            written.replacingOccurrences(of: #""cli":"alice""#, with: #""cli":"alice","cli":"mallory""#),
        ]
        for claims in altered {
            #expect(claims != written)
            let encoded = "new." + Base64URL.encode(Array(claims.utf8))
            let token = encoded + "." + Base64URL.encode(Self.new.mac(Array("tollgate-offer-v1.".utf8) + Array(encoded.utf8)))
            #expect(Self.signer(Self.new).verify(token) == .failure(.malformed), "\(claims)")
        }
    }
}
