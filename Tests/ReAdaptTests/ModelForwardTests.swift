import XCTest
@testable import ReAdapt

/// Logits against transformers on tiny random checkpoints of each architecture (F32 tolerance 1e-4).
final class ModelForwardTests: XCTestCase {
    let tolerance: Float = 1e-4

    func testFullPrefillLogitsMatchTransformersAtEveryPosition() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let reference = try ModelFixtures.reference(name)
            for (i, sequence) in reference.sequences.enumerated() {
                let session = model.makeSession()
                let logits = try session.forward(sequence, allPositions: true)
                let expected = try ModelFixtures.logits(name, i)
                XCTAssertEqual(logits.count, expected.count)
                let diff = maxAbsDiff(logits[...], expected[...])
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) sequence \(i): max |Δlogit| \(diff)")
            }
        }
    }

    func testLastPositionLogitsEqualTheLastRowOfAllPositions() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let sequence = try ModelFixtures.reference(name).sequences[2]
            let last = try model.makeSession().forward(sequence)
            let expected = try ModelFixtures.logits(name, 2)
            let vocab = model.spec.vocabSize
            XCTAssertLessThanOrEqual(maxAbsDiff(last[...], expected[(expected.count - vocab)...]), tolerance, name)
        }
    }

    func testKVCacheDecodingOneTokenAtATimeMatchesTransformers() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let sequence = try ModelFixtures.reference(name).sequences[3]
            let expected = try ModelFixtures.logits(name, 3)
            let vocab = model.spec.vocabSize
            let session = model.makeSession()
            for (pos, token) in sequence.enumerated() {
                let logits = try session.forward([token])
                let diff = maxAbsDiff(logits[...], expected[(pos * vocab)..<((pos + 1) * vocab)])
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) position \(pos): \(diff)")
            }
            XCTAssertEqual(session.position, sequence.count)
        }
    }

    func testChunkedPrefillMatchesTransformers() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let sequence = try ModelFixtures.reference(name).sequences[3]
            let expected = try ModelFixtures.logits(name, 3)
            let vocab = model.spec.vocabSize
            // Uneven pieces, and a maxChunk that splits a single call internally.
            let session = model.makeSession()
            session.maxChunk = 4
            var got: [Float] = []
            for range in [0..<5, 5..<6, 6..<19, 19..<sequence.count] {
                got += try session.forward(Array(sequence[range]), allPositions: true)
            }
            XCTAssertLessThanOrEqual(maxAbsDiff(got[...], expected[...]), tolerance, name)
            XCTAssertEqual(got.count, sequence.count * vocab)
        }
    }

    func testBlockedPrefillAttentionMatchesTransformers() throws {
        // Row blocks of 5 (and the sliding window of 8 in mistral) exercise the partial-key GEMMs.
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let sequence = try ModelFixtures.reference(name).sequences[3]
            let session = model.makeSession()
            session.attentionRowBlock = 5
            session.useGEMMAttention = true
            let logits = try session.forward(sequence, allPositions: true)
            XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], try ModelFixtures.logits(name, 3)[...]), tolerance, name)
        }
    }

    func testLongPrefillAgreesWithDecodingBeyondTheFixtureLength() throws {
        // 300 positions (past max_position_embeddings, which RoPE does not enforce): three 128-row
        // blocks and a cache that grows, against one-token decoding (pinned to transformers above).
        let model = try ModelFixtures.model("mistral")
        var rng = Xoshiro256(seed: 9)
        let tokens = (0..<300).map { _ in Int(rng.next() % 256) }
        let kernelPrefill = model.makeSession(capacity: 300)
        kernelPrefill.useGEMMAttention = false
        let gemmPrefill = model.makeSession(capacity: 300)
        gemmPrefill.useGEMMAttention = true
        let viaKernel = try kernelPrefill.forward(tokens, allPositions: true)
        let viaGEMM = try gemmPrefill.forward(tokens, allPositions: true)
        let session = model.makeSession(capacity: 300)
        for (pos, token) in tokens.enumerated() {
            let logits = try session.forward([token])
            let row = (pos * 256)..<((pos + 1) * 256)
            XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], viaKernel[row]), tolerance, "kernel \(pos)")
            XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], viaGEMM[row]), tolerance, "GEMM \(pos)")
        }
    }

    func testCacheGrowthKeepsEarlierPositions() throws {
        // The cache starts at 64 positions; a 32-capacity session never grows, a long one grows
        // mid-sequence. Both must agree with the reference.
        let model = try ModelFixtures.model("llama")
        let sequence = try ModelFixtures.reference("llama").sequences[3]
        let expected = try ModelFixtures.logits("llama", 3)
        let session = model.makeSession(capacity: 1000)
        var got: [Float] = []
        for token in sequence { got += try session.forward([token]) }
        XCTAssertLessThanOrEqual(maxAbsDiff(got[...], expected[...]), tolerance)
    }

    func testBF16StorageIsExactForABF16Checkpoint() throws {
        // qwen2's fixture is stored in BF16, so BF16 weight storage loses nothing.
        let model = try LanguageModel.load(directory: try ModelFixtures.directory("qwen2"), storage: .bf16)
        let sequence = try ModelFixtures.reference("qwen2").sequences[3]
        let logits = try model.makeSession().forward(sequence, allPositions: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], try ModelFixtures.logits("qwen2", 3)[...]), tolerance)
        let session = model.makeSession()
        for token in sequence.dropLast() { try session.forward([token]) }
        let last = try session.forward([sequence.last!])
        let expected = try ModelFixtures.logits("qwen2", 3)
        XCTAssertLessThanOrEqual(maxAbsDiff(last[...], expected[(expected.count - 256)...]), tolerance)
    }

    func testBadInputsAreRefusedWithTypedErrors() throws {
        let model = try ModelFixtures.model("llama")
        let session = model.makeSession(capacity: 4)
        XCTAssertThrowsError(try session.forward([])) { XCTAssertEqual($0 as? ModelRunError, .emptyInput) }
        XCTAssertThrowsError(try session.forward([256])) {
            XCTAssertEqual($0 as? ModelRunError, .tokenOutOfRange(token: 256, vocabSize: 256))
        }
        XCTAssertThrowsError(try session.forward([1, 2, 3, 4, 5])) {
            XCTAssertEqual($0 as? ModelRunError, .contextFull(capacity: 4, needed: 5))
        }
        XCTAssertEqual(session.position, 0)
    }
}
