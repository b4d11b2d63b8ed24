package io.psgivassal.emperor.forkserver;

import io.psgivassal.emperor.protocol.ForkServerRequest;
import java.util.OptionalInt;
import java.util.stream.IntStream;

/** The descriptors sent with a fork-server request; the request mask follows from which are present. */
public record AttachedFds(int emperorPipe, OptionalInt configPipe, OptionalInt onDemandSocket) {
  public AttachedFds {
    if (emperorPipe < 0) {
      throw new IllegalArgumentException("the Emperor pipe is mandatory");
    }
  }

  public static AttachedFds of(int emperorPipe) {
    return new AttachedFds(emperorPipe, OptionalInt.empty(), OptionalInt.empty());
  }

  /** From plain ints where a negative value means "not attached". */
  public static AttachedFds of(int emperorPipe, int configPipe, int onDemandSocket) {
    return new AttachedFds(emperorPipe,
        configPipe < 0 ? OptionalInt.empty() : OptionalInt.of(configPipe),
        onDemandSocket < 0 ? OptionalInt.empty() : OptionalInt.of(onDemandSocket));
  }

  public AttachedFds withConfigPipe(int fd) {
    return new AttachedFds(emperorPipe, OptionalInt.of(fd), onDemandSocket);
  }

  public AttachedFds withOnDemandSocket(int fd) {
    return new AttachedFds(emperorPipe, configPipe, OptionalInt.of(fd));
  }

  public int mask() {
    return ForkServerRequest.maskFor(configPipe.isPresent(), onDemandSocket.isPresent());
  }

  /** In wire order: Emperor pipe, config pipe, on-demand socket. */
  public int[] inWireOrder() {
    IntStream.Builder b = IntStream.builder().add(emperorPipe);
    configPipe.ifPresent(b::add);
    onDemandSocket.ifPresent(b::add);
    return b.build().toArray();
  }
}
