package io.psgivassal.emperor.protocol;

import java.nio.charset.StandardCharsets;

/** Emperor -> vassal on the config pipe: modifier1 115, modifier2 0, body = the raw config text. */
public record ConfigPacket(byte[] text) {
  public static final int MODIFIER1 = 115;

  public ConfigPacket {
    text = text.clone();
    if (text.length > UwsgiPacket.MAX_BODY) {
      throw new IllegalArgumentException("config is " + text.length + " bytes, at most " + UwsgiPacket.MAX_BODY + " fit in one packet");
    }
  }

  public static ConfigPacket of(String text) {
    return new ConfigPacket(text.getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public byte[] text() {
    return text.clone();
  }

  public String textAsString() {
    return new String(text, StandardCharsets.UTF_8);
  }

  public byte[] encode() {
    return new UwsgiPacket(MODIFIER1, 0, text).encode();
  }

  public static ConfigPacket decode(byte[] bytes) throws MalformedPacketException {
    UwsgiPacket p = UwsgiPacket.decode(bytes);
    if (p.modifier1() != MODIFIER1) {
      throw new MalformedPacketException("config packet: modifier1 is " + p.modifier1() + ", expected " + MODIFIER1);
    }
    if (p.modifier2() != 0) {
      throw new MalformedPacketException("config packet: modifier2 is " + p.modifier2() + ", expected 0");
    }
    return new ConfigPacket(p.body());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ConfigPacket c && java.util.Arrays.equals(c.text, text);
  }

  @Override
  public int hashCode() {
    return java.util.Arrays.hashCode(text);
  }

  @Override
  public String toString() {
    return "ConfigPacket[" + text.length + " bytes]";
  }
}
