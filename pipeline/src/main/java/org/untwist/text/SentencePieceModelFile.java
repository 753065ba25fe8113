package org.untwist.text;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a slow T5 tokenizer's {@code spiece.model}: a SentencePiece {@code ModelProto} protobuf, of which only
 * the fields tokenization needs are kept (pieces with score and type; trainer spec's model type, byte fallback and
 * unk/eos/pad ids; normalizer spec's charsmap and whitespace switches). Everything else is skipped.
 */
final class SentencePieceModelFile {

    /** transformers' T5 tokenizers append this many {@code <extra_id_N>} sentinels after the model's pieces. */
    static final int T5_EXTRA_IDS = 100;

    private SentencePieceModelFile() {
    }

    static T5Tokenizer read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no spiece.model here");
        }
        return parse(Files.readAllBytes(file), file.getFileName().toString());
    }

    static T5Tokenizer parse(byte[] bytes, String name) throws IOException {
        List<UnigramPiece> pieces = new ArrayList<>();
        int modelType = 1;
        boolean byteFallback = false;
        int unkId = 0;
        int eosId = 2;
        int padId = -1;
        byte[] charsmap = new byte[0];
        boolean addDummyPrefix = true;
        boolean removeExtraWhitespaces = true;
        boolean escapeWhitespaces = true;
        boolean sawNormalizer = false;

        ProtobufReader model = new ProtobufReader(name, bytes);
        while (!model.atEnd()) {
            int key = model.readKey();
            switch (key >>> 3) {
                case 1 -> {
                    model.expect(key, ProtobufReader.LENGTH_DELIMITED, "ModelProto.pieces");
                    pieces.add(readPiece(model.readMessage(), name, pieces.size()));
                }
                case 2 -> {
                    model.expect(key, ProtobufReader.LENGTH_DELIMITED, "ModelProto.trainer_spec");
                    ProtobufReader trainer = model.readMessage();
                    while (!trainer.atEnd()) {
                        int field = trainer.readKey();
                        switch (field >>> 3) {
                            case 3 -> modelType = trainer.readInt32();
                            case 35 -> byteFallback = trainer.readBool();
                            case 40 -> unkId = trainer.readInt32();
                            case 42 -> eosId = trainer.readInt32();
                            case 43 -> padId = trainer.readInt32();
                            default -> trainer.skip(field & 7);
                        }
                    }
                }
                case 3 -> {
                    model.expect(key, ProtobufReader.LENGTH_DELIMITED, "ModelProto.normalizer_spec");
                    sawNormalizer = true;
                    ProtobufReader normalizer = model.readMessage();
                    while (!normalizer.atEnd()) {
                        int field = normalizer.readKey();
                        switch (field >>> 3) {
                            case 2 -> charsmap = normalizer.readBytes();
                            case 3 -> addDummyPrefix = normalizer.readBool();
                            case 4 -> removeExtraWhitespaces = normalizer.readBool();
                            case 5 -> escapeWhitespaces = normalizer.readBool();
                            default -> normalizer.skip(field & 7);
                        }
                    }
                }
                default -> model.skip(key & 7);
            }
        }

        if (pieces.isEmpty()) {
            throw new IOException(name + ": no pieces (not a SentencePiece model?)");
        }
        if (modelType != 1) {
            String kind = switch (modelType) {
                case 2 -> "BPE";
                case 3 -> "WORD";
                case 4 -> "CHAR";
                default -> "type " + modelType;
            };
            throw new IOException(name + ": model type is " + kind + ", but T5 tokenizers are Unigram");
        }
        if (!sawNormalizer) {
            throw new IOException(name + ": no normalizer_spec");
        }
        checkId(name, "unk_id", unkId, pieces);
        checkId(name, "eos_id", eosId, pieces);
        checkId(name, "pad_id", padId, pieces);

        PrecompiledCharsmap map;
        try {
            map = charsmap.length == 0 ? null : PrecompiledCharsmap.parse(charsmap, name);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        SentencePieceNormalizer normalizer = new SentencePieceNormalizer(map, addDummyPrefix,
                removeExtraWhitespaces, escapeWhitespaces);
        UnigramModel unigram = new UnigramModel(pieces, unkId, byteFallback, UnigramModel.Rules.SENTENCEPIECE);

        // transformers' slow tokenizer splits these out of the text before sentencepiece sees it: the model's
        // control and unknown pieces, then the sentinels, <extra_id_0> getting the last id (as in T5).
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (int id = 0; id < pieces.size(); id++) {
            UnigramPiece piece = pieces.get(id);
            if (piece.kind() == UnigramPiece.Kind.CONTROL || piece.kind() == UnigramPiece.Kind.UNKNOWN) {
                specials.putIfAbsent(piece.text(), id);
            }
        }
        for (int n = 0; n < T5_EXTRA_IDS; n++) {
            specials.putIfAbsent("<extra_id_" + n + ">", pieces.size() + T5_EXTRA_IDS - 1 - n);
        }
        return new T5Tokenizer(name, unigram, normalizer, specials, eosId, padId,
                pieces.size() + T5_EXTRA_IDS);
    }

    private static UnigramPiece readPiece(ProtobufReader message, String name, int id) throws IOException {
        String text = "";
        float score = 0;
        int type = 1;
        while (!message.atEnd()) {
            int key = message.readKey();
            switch (key >>> 3) {
                case 1 -> text = message.readString();
                case 2 -> {
                    message.expect(key, ProtobufReader.FIXED32, "SentencePiece.score");
                    score = message.readFloat();
                }
                case 3 -> type = message.readInt32();
                default -> message.skip(key & 7);
            }
        }
        UnigramPiece.Kind kind = UnigramPiece.Kind.ofProtoNumber(type);
        if (kind == null) {
            throw new IOException(name + ": piece " + id + " '" + text + "' has unknown type " + type);
        }
        return new UnigramPiece(text, score, kind);
    }

    private static void checkId(String name, String field, int id, List<UnigramPiece> pieces) throws IOException {
        if (id < 0 || id >= pieces.size()) {
            throw new IOException(name + ": trainer_spec." + field + " is " + id + ", but T5 needs it within the "
                    + pieces.size() + " pieces");
        }
    }
}
