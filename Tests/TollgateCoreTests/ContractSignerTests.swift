import HTTPTypes
import Testing
import TollgateCore

@Suite struct ContractSignerTests {
    static let signer = ContractSigner(keys: KeyRing([SecretKey(id: "c1", secret: Array(repeating: 9, count: 32))!])!)
    static let contract = ContractSigner.Contract(client: "alice", payer: "0xabc", amount: "10000 0xtoken@eip155:84532",
                                                  unit: "request=1", correlationId: "tg_01", timestamp: 1_750_000_000)

    static func signedFields() -> HTTPFields {
        var fields = HTTPFields()
        signer.apply(contract, method: .get, target: "/datasets/prices?day=1", to: &fields)
        return fields
    }

    @Test func appliedFieldsAreValid() {
        let fields = Self.signedFields()
        #expect(Self.signer.isValid(fields, method: .get, target: "/datasets/prices?day=1"))
        #expect(fields[.tollgateClient] == "alice")
        #expect(fields[.tollgateSignature]?.hasPrefix("v1 kid=c1 sig=") == true)
    }

    @Test(arguments: [
        (HTTPField.Name.tollgateClient, "mallory"), (.tollgatePayer, "0xdef"), (.tollgateAmount, "1 0xtoken@eip155:84532"),
        (.tollgateUnit, "request=100"), (.tollgateCorrelationId, "tg_02"), (.tollgateTimestamp, "1750000001"),
    ])
    func tamperedFieldIsInvalid(name: HTTPField.Name, value: String) {
        var fields = Self.signedFields()
        fields[name] = value
        #expect(!Self.signer.isValid(fields, method: .get, target: "/datasets/prices?day=1"))
    }

    @Test func otherRequestOrMissingSignatureIsInvalid() {
        var fields = Self.signedFields()
        #expect(!Self.signer.isValid(fields, method: .post, target: "/datasets/prices?day=1"))
        #expect(!Self.signer.isValid(fields, method: .get, target: "/datasets/prices?day=2"))
        fields[.tollgateSignature] = nil
        #expect(!Self.signer.isValid(fields, method: .get, target: "/datasets/prices?day=1"))
    }

    @Test func signatureOfAnotherKeyIsInvalid() {
        let other = ContractSigner(keys: KeyRing([SecretKey(id: "c1", secret: Array(repeating: 8, count: 32))!])!)
        var fields = HTTPFields()
        other.apply(Self.contract, method: .get, target: "/datasets/prices?day=1", to: &fields)
        #expect(!Self.signer.isValid(fields, method: .get, target: "/datasets/prices?day=1"))
    }
}
