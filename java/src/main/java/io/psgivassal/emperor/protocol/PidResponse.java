package io.psgivassal.emperor.protocol;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Fork server (grandchild) -> Emperor: modifier1 35, modifier2 0, dict body with key "pid".
 * A pid value starting with '-' reports a failure; other keys are kept, in wire order, but carry
 * no meaning here.
 */
public record PidResponse(Map<String, String> dict) {
  public static final int MODIFIER1 = 35;
  public static final String PID_KEY = "pid";

  public PidResponse {
    if (!dict.containsKey(PID_KEY)) {
      throw new IllegalArgumentException("a pid response needs a \"pid\" key");
    }
    dict = Collections.unmodifiableMap(new LinkedHashMap<>(dict));
  }

  public static PidResponse of(int pid) {
    return new PidResponse(Map.of(PID_KEY, Integer.toString(pid)));
  }

  public String pidValue() {
    return dict.get(PID_KEY);
  }

  public boolean isFailure() {
    return pidValue().startsWith("-");
  }

  /** The vassal's pid, or empty when the fork server reported a failure. */
  public OptionalInt pid() {
    return isFailure() ? OptionalInt.empty() : OptionalInt.of(Integer.parseInt(pidValue()));
  }

  public UwsgiPacket toPacket() {
    return new UwsgiPacket(MODIFIER1, 0, UwsgiDict.encode(dict));
  }

  public byte[] encode() {
    return toPacket().encode();
  }

  public static PidResponse decode(byte[] bytes) throws MalformedPacketException {
    return fromPacket(UwsgiPacket.decode(bytes));
  }

  public static PidResponse fromPacket(UwsgiPacket p) throws MalformedPacketException {
    if (p.modifier1() != MODIFIER1) {
      throw new MalformedPacketException("fork-server reply: modifier1 is " + p.modifier1() + ", expected " + MODIFIER1);
    }
    Map<String, String> dict = UwsgiDict.decode(p.body());
    String value = dict.get(PID_KEY);
    if (value == null) {
      throw new MalformedPacketException("fork-server reply: no \"pid\" key among " + dict.keySet());
    }
    if (!value.startsWith("-") && !isPid(value)) {
      throw new MalformedPacketException("fork-server reply: pid \"" + value + "\" is not a positive decimal pid");
    }
    return new PidResponse(dict);
  }

  private static boolean isPid(String s) {
    if (!s.matches("[0-9]{1,10}")) {
      return false;
    }
    long v = Long.parseLong(s);
    return v > 0 && v <= Integer.MAX_VALUE;
  }
}
