import Foundation

/// Signs and checks offer tokens: `<key id>.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`.
///
/// The MAC is checked before the claims are parsed, so a forged token costs one HMAC and no JSON work.
public struct OfferSigner: Sendable {
    public enum Failure: Error, Sendable, Hashable {
        case malformed
        case unknownKey
        case badSignature
    }

    let keys: KeyRing
    private static let domain = Array("tollgate-offer-v1.".utf8)

    public init(keys: KeyRing) { self.keys = keys }

    public func sign(_ offer: Offer) -> SignedOffer {
        let claims = Self.claims(offer)
        let key = keys.current
        // The MAC'd message and the token share one buffer: the domain, then `<key id>.<claims>`, then `.<MAC>`.
        var message: [UInt8] = []
        message.reserveCapacity(Self.domain.count + key.id.utf8.count + claims.count * 4 / 3 + 52)
        message.append(contentsOf: Self.domain)
        message.append(contentsOf: key.id.utf8)
        message.append(UInt8(ascii: "."))
        Base64URL.append(claims, to: &message)
        let mac = key.mac(message)
        message.append(UInt8(ascii: "."))
        Base64URL.append(mac, to: &message)
        return SignedOffer(offer: offer, token: String(decoding: message[Self.domain.count...], as: UTF8.self))
    }

    /// The claims JSON (the `Offer` coding keys, sorted), written by hand: this runs on every 402.
    static func claims(_ offer: Offer) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("amt", offer.amount.atomic)
        writer.field("ast", offer.asset)
        writer.field("bd", offer.bodyDigest)
        writer.field("cid", offer.correlationId)
        writer.field("cli", offer.client)
        writer.field("exp", offer.expiresAt)
        writer.field("mts", Int64(offer.maxTimeoutSeconds))
        writer.field("net", offer.network)
        writer.field("pay", offer.payTo)
        writer.field("qty", Int64(offer.quantity))
        writer.field("req", offer.request)
        writer.field("res", offer.resource)
        writer.field("unit", offer.unit)
        writer.endObject()
        return writer.bytes
    }

    public func verify(_ token: String) -> Result<Offer, Failure> {
        // Split on the bytes of an ASCII token: `split` on `Character`s walked grapheme clusters, about 2 % of a paid
        // request for a token of a few hundred bytes. A token is ASCII (key id, base64url, base64url); anything else
        // is malformed.
        let utf8 = token.utf8
        let dot = UInt8(ascii: ".")
        guard utf8.count <= 4096, utf8.allSatisfy({ $0 < 0x80 }), let first = utf8.firstIndex(of: dot) else { return .failure(.malformed) }
        let claimsStart = utf8.index(after: first)
        guard let second = utf8[claimsStart...].firstIndex(of: dot) else { return .failure(.malformed) }
        let macStart = utf8.index(after: second)
        guard !utf8[macStart...].contains(dot) else { return .failure(.malformed) }
        guard let key = keys.key(id: token[..<first]) else { return .failure(.unknownKey) }
        // Compared as text: base64 has spare bits, so two encodings can decode to the same MAC.
        let expected = Base64URL.encode(key.mac(Self.domain + Array(utf8[..<second])))
        guard ConstantTime.equal(Array(expected.utf8), Array(utf8[macStart...])) else { return .failure(.badSignature) }
        guard let claims = Base64URL.decode(token[claimsStart..<second]), let tree = StrictJSON.tree(claims), let offer = Offer(claims: tree) else {
            return .failure(.malformed)
        }
        return .success(offer)
    }
}
