import Testing
import TollgateCore
@testable import TollgateX402

/// The facilitator's memo of recovered signers saves work, never changes an answer: a signature it has not seen,
/// for a digest it has, is recovered afresh.
@Suite struct RecoveryMemoTests {
    static func signed(_ key: [UInt8], _ digest: [UInt8]) throws -> RecoverableSignature {
        try #require(Secp256k1.sign(digest: digest, privateKey: key))
    }

    @Test func answersAsRecoveryDoes() throws {
        let memo = RecoveryMemo()
        let key = Secp256k1.randomPrivateKey(), digest = Keccak256.hash(Array("transfer".utf8))
        let signature = try Self.signed(key, digest)
        let signer = Secp256k1.address(privateKey: key)
        #expect(memo.recoverAddress(digest: digest, signature: signature) == signer)
        #expect(memo.recoverAddress(digest: digest, signature: signature) == signer)
    }

    @Test func anotherSignatureOrDigestIsNotTakenForARememberedOne() throws {
        let memo = RecoveryMemo()
        let payer = Secp256k1.randomPrivateKey(), forger = Secp256k1.randomPrivateKey()
        let digest = Keccak256.hash(Array("transfer".utf8))
        let genuine = try Self.signed(payer, digest)
        #expect(memo.recoverAddress(digest: digest, signature: genuine) == Secp256k1.address(privateKey: payer))
        // The forger's signature over the same digest recovers the forger, not the remembered payer.
        let forged = try Self.signed(forger, digest)
        #expect(memo.recoverAddress(digest: digest, signature: forged) == Secp256k1.address(privateKey: forger))
        // The payer's signature presented for another digest does not recover the payer.
        let other = Keccak256.hash(Array("another transfer".utf8))
        #expect(memo.recoverAddress(digest: other, signature: genuine) != Secp256k1.address(privateKey: payer))
        // A tampered copy of the remembered signature is recovered afresh (to someone else, or to nobody).
        var bytes = genuine.bytes
        bytes[7] ^= 0x01
        let tampered = try #require(RecoverableSignature(bytes: bytes))
        #expect(memo.recoverAddress(digest: digest, signature: tampered) != Secp256k1.address(privateKey: payer))
    }

    @Test func staysBoundedAndKeepsAnswering() throws {
        let memo = RecoveryMemo(capacity: 4)
        let key = Secp256k1.randomPrivateKey()
        for index in 0..<10 {
            let digest = Keccak256.hash(Array("transfer \(index)".utf8))
            #expect(memo.recoverAddress(digest: digest, signature: try Self.signed(key, digest)) == Secp256k1.address(privateKey: key))
            #expect(memo.count <= 4)
        }
    }
}
