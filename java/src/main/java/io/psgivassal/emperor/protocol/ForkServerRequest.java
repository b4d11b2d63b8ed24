package io.psgivassal.emperor.protocol;

import java.util.List;

/**
 * Emperor -> fork server: modifier1 35, modifier2 = mask of the descriptors attached (in this
 * order: Emperor pipe, config pipe, on-demand socket), body = the vassal's argv as an array.
 */
public record ForkServerRequest(int mask, List<String> argv) {
  public static final int MODIFIER1 = 35;
  public static final int EMPEROR_PIPE = 0x01;
  public static final int CONFIG_PIPE = 0x02;
  public static final int ON_DEMAND_SOCKET = 0x04;
  private static final int KNOWN = EMPEROR_PIPE | CONFIG_PIPE | ON_DEMAND_SOCKET;

  public ForkServerRequest {
    argv = List.copyOf(argv);
    if ((mask & EMPEROR_PIPE) == 0 || (mask & ~KNOWN) != 0) {
      throw new IllegalArgumentException("fork-server request mask 0x" + Integer.toHexString(mask)
          + ": must include 0x01 (Emperor pipe) and only 0x01|0x02|0x04");
    }
  }

  /** The mask for the descriptors actually passed. */
  public static int maskFor(boolean configPipe, boolean onDemandSocket) {
    return EMPEROR_PIPE | (configPipe ? CONFIG_PIPE : 0) | (onDemandSocket ? ON_DEMAND_SOCKET : 0);
  }

  /** How many descriptors travel with the request. */
  public int descriptorCount() {
    return Integer.bitCount(mask);
  }

  public UwsgiPacket toPacket() {
    return new UwsgiPacket(MODIFIER1, mask, UwsgiArray.encodeStrings(argv));
  }

  public byte[] encode() {
    return toPacket().encode();
  }

  public static ForkServerRequest decode(byte[] bytes) throws MalformedPacketException {
    return fromPacket(UwsgiPacket.decode(bytes));
  }

  public static ForkServerRequest fromPacket(UwsgiPacket p) throws MalformedPacketException {
    if (p.modifier1() != MODIFIER1) {
      throw new MalformedPacketException("fork-server request: modifier1 is " + p.modifier1() + ", expected " + MODIFIER1);
    }
    int mask = p.modifier2();
    if ((mask & EMPEROR_PIPE) == 0 || (mask & ~KNOWN) != 0) {
      throw new MalformedPacketException("fork-server request: descriptor mask 0x" + Integer.toHexString(mask)
          + " must include 0x01 and only 0x01|0x02|0x04");
    }
    List<String> argv = UwsgiArray.decodeStrings(p.body());
    if (argv.isEmpty()) {
      throw new MalformedPacketException("fork-server request: empty argv");
    }
    return new ForkServerRequest(mask, argv);
  }
}
