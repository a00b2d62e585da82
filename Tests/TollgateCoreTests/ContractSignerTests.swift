import HTTPTypes
import Testing
import TollgateCore

/// The backend's check of the gateway's contract headers, as an attacker between the two would try to pass it.
@Suite struct ContractSignerTests {
    static let secrets = KeyRing([SecretKey(id: "c1", secret: Array(repeating: 9, count: 32))!])!
    static let signer = ContractSigner(keys: secrets.contractKeys())
    static let now: Int64 = 1_750_000_000
    static let contract = ContractSigner.Contract(client: "alice", payer: "0xabc", amount: "10000 0xtoken@eip155:84532",
                                                  unit: "request=1", correlationId: "tg_01", timestamp: now)
    static let body = Array(#"{"query":{"count":3}}"#.utf8)

    static func signedFields(body: [UInt8] = body) -> HTTPFields {
        var fields = HTTPFields()
        signer.apply(contract, method: .post, target: "/search?day=1", body: body, to: &fields)
        return fields
    }

    func verifier(replays: ContractVerifier.ReplayCache? = nil) -> ContractVerifier {
        ContractVerifier(keys: Self.secrets.contractKeys(), windowSeconds: 60, replays: replays)
    }

    func refusal(_ fields: HTTPFields, method: String = "POST", target: String = "/search?day=1", body: [UInt8] = body,
                 now: Int64 = now, verifier: ContractVerifier? = nil) -> ContractVerifier.Refusal.Code? {
        if case .failure(let refusal) = (verifier ?? self.verifier()).verify(fields, method: method, target: target, body: body, now: now) {
            return refusal.code
        }
        return nil
    }

    @Test func appliedFieldsVerify() {
        let fields = Self.signedFields()
        #expect(refusal(fields) == nil)
        #expect(fields[.tollgateClient] == "alice")
        #expect(fields[.tollgateSignature]?.hasPrefix("v2 kid=c1 sig=") == true)
        #expect(fields[.tollgateTimestamp] == String(Self.now))
    }

    @Test(arguments: [
        (HTTPField.Name.tollgateClient, "mallory"), (.tollgatePayer, "0xdef"), (.tollgateAmount, "1 0xtoken@eip155:84532"),
        (.tollgateUnit, "request=100"), (.tollgateCorrelationId, "tg_02"), (.tollgateTimestamp, "1750000001"),
    ])
    func aTamperedFieldIsRefused(name: HTTPField.Name, value: String) {
        var fields = Self.signedFields()
        fields[name] = value
        #expect(refusal(fields) == .mismatch)
    }

    @Test func anotherRequestOrBodyIsRefused() {
        let fields = Self.signedFields()
        #expect(refusal(fields, method: "GET") == .mismatch)
        #expect(refusal(fields, target: "/search?day=2") == .mismatch)
        #expect(refusal(fields, body: Array(#"{"query":{"count":300}}"#.utf8)) == .mismatch)
        #expect(refusal(fields, body: []) == .mismatch)
    }

    @Test func aStaleOrFutureTimestampIsRefused() {
        let fields = Self.signedFields()
        #expect(refusal(fields, now: Self.now + 61) == .stale)
        #expect(refusal(fields, now: Self.now - 61) == .stale)
        #expect(refusal(fields, now: Self.now + 60) == nil)
    }

    @Test func aReplayWithinTheWindowIsRefused() {
        let verifier = verifier(replays: ContractVerifier.ReplayCache())
        let fields = Self.signedFields()
        #expect(refusal(fields, verifier: verifier) == nil)
        #expect(refusal(fields, now: Self.now + 5, verifier: verifier) == .replayed)
    }

    @Test func theOfferKeyDoesNotSignContracts() {
        // A backend given the offer secret itself (or a signer using it) does not verify: the keys differ.
        let offerKeySigner = ContractSigner(keys: Self.secrets)
        var fields = HTTPFields()
        offerKeySigner.apply(Self.contract, method: .post, target: "/search?day=1", body: Self.body, to: &fields)
        #expect(refusal(fields) == .mismatch)
    }

    @Test func missingOrMalformedOrUnknownKeyIsRefused() {
        var fields = Self.signedFields()
        fields[.tollgateSignature] = nil
        #expect(refusal(fields) == .missing)
        fields = Self.signedFields()
        fields[.tollgateSignature] = "v1 kid=c1 sig=00"
        #expect(refusal(fields) == .malformed)
        let other = ContractSigner(keys: KeyRing([SecretKey(id: "c2", secret: Array(repeating: 8, count: 32))!])!)
        var foreign = HTTPFields()
        other.apply(Self.contract, method: .post, target: "/search?day=1", body: Self.body, to: &foreign)
        #expect(refusal(foreign) == .unknownKey)
    }

    @Test func theReplayCacheStaysBounded() {
        let cache = ContractVerifier.ReplayCache(capacity: 100)
        let verifier = ContractVerifier(keys: Self.secrets.contractKeys(), windowSeconds: 60, replays: cache)
        for index in 0..<1000 {
            var contract = Self.contract
            contract.correlationId = "tg_\(index)"
            var fields = HTTPFields()
            Self.signer.apply(contract, method: .post, target: "/search?day=1", body: Self.body, to: &fields)
            #expect(refusal(fields, verifier: verifier) == nil)
        }
        #expect(cache.count <= 100)
    }
}
