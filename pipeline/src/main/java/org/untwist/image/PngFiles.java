package org.untwist.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import org.untwist.io.AtomicFiles;

/**
 * PNG files that carry the settings that made them as text chunks (keyword → text), as ComfyUI and other
 * generators do, so that a picture says how to make it again: {@code tEXt} for Latin-1 values, {@code iTXt}
 * (UTF-8) for values with other characters, such as a prompt in another script. Written all or nothing.
 */
public final class PngFiles {
    private PngFiles() {
    }

    /** Writes {@code img} to {@code file} with one text chunk per entry of {@code text} (keywords 1–79 Latin-1 characters). */
    public static void write(BufferedImage img, Map<String, String> text, Path file) throws IOException {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("png");
        if (!writers.hasNext()) {
            throw new IOException("no PNG writer in this Java runtime (module java.desktop)");
        }
        ImageWriter writer = writers.next();
        try {
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(img), writer.getDefaultWriteParam());
            IIOMetadataNode root = new IIOMetadataNode("javax_imageio_png_1.0");
            IIOMetadataNode latin = new IIOMetadataNode("tEXt");
            IIOMetadataNode unicode = new IIOMetadataNode("iTXt");
            for (Map.Entry<String, String> e : text.entrySet()) {
                String key = e.getKey();
                if (key.isEmpty() || key.length() > 79 || !key.chars().allMatch(ch -> ch >= 32 && ch <= 255)) {
                    throw new IllegalArgumentException("PNG text keyword '" + key + "' must be 1-79 Latin-1 characters");
                }
                String value = e.getValue();
                if (value.chars().allMatch(ch -> ch <= 0xFF)) {
                    IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                    entry.setAttribute("keyword", key);
                    entry.setAttribute("value", value);
                    latin.appendChild(entry);
                } else {
                    IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
                    entry.setAttribute("keyword", key);
                    entry.setAttribute("compressionFlag", "FALSE");
                    entry.setAttribute("compressionMethod", "0");
                    entry.setAttribute("languageTag", "");
                    entry.setAttribute("translatedKeyword", "");
                    entry.setAttribute("text", value);
                    unicode.appendChild(entry);
                }
            }
            if (latin.hasChildNodes()) {
                root.appendChild(latin);
            }
            if (unicode.hasChildNodes()) {
                root.appendChild(unicode);
            }
            meta.mergeTree("javax_imageio_png_1.0", root);
            Path tmp = AtomicFiles.temporarySibling(file);
            try {
                try (OutputStream os = Files.newOutputStream(tmp); ImageOutputStream ios = ImageIO.createImageOutputStream(os)) {
                    writer.setOutput(ios);
                    writer.write(new IIOImage(img, null, meta));
                }
                AtomicFiles.moveIntoPlace(tmp, file);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } finally {
            writer.dispose();
        }
    }

    /** The text chunks ({@code tEXt} and {@code iTXt}) of a PNG file. */
    public static Map<String, String> readText(Path file) throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        try (javax.imageio.stream.ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<javax.imageio.ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException(file + ": not a PNG file");
            }
            javax.imageio.ImageReader reader = readers.next();
            try {
                reader.setInput(in);
                IIOMetadata meta = reader.getImageMetadata(0);
                org.w3c.dom.Node root = meta.getAsTree("javax_imageio_png_1.0");
                for (org.w3c.dom.Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
                    boolean latin = n.getNodeName().equals("tEXt");
                    if (latin || n.getNodeName().equals("iTXt")) {
                        for (org.w3c.dom.Node e = n.getFirstChild(); e != null; e = e.getNextSibling()) {
                            org.w3c.dom.NamedNodeMap a = e.getAttributes();
                            text.put(a.getNamedItem("keyword").getNodeValue(), a.getNamedItem(latin ? "value" : "text").getNodeValue());
                        }
                    }
                }
            } finally {
                reader.dispose();
            }
        }
        return text;
    }
}
