package io.psgivassal.emperor.forkserver;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.MalformedPacketException;
import io.psgivassal.emperor.protocol.PidResponse;
import io.psgivassal.emperor.protocol.UwsgiPacket;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.util.OptionalInt;

/**
 * A request already sent, waiting for the pid reply on a non-blocking socket. The owner watches
 * {@link #fd()} for readability (epoll) and calls {@link #onReadable()}; it alone enforces the
 * timeout, so nothing here ever blocks.
 */
public final class PendingAdoption implements Closeable {
  private final int fd;
  private final int forkServerPid;
  private final ByteArrayOutputStream received = new ByteArrayOutputStream();
  private final byte[] chunk = new byte[4096];
  private boolean closed;

  /** @throws NativeException if the socket's peer credentials cannot be read */
  PendingAdoption(int fd) {
    this.fd = fd;
    this.forkServerPid = UnixSockets.peerCredentials(fd).pid();
  }

  public int fd() {
    return fd;
  }

  /**
   * The process that listens on the fork-server socket, as the kernel saw it when this request
   * connected (0 if it lives in another pid namespace): the one fact about the fork server that
   * does not come from the fork server. See {@link AdoptedPidCheck}.
   */
  public int forkServerPid() {
    return forkServerPid;
  }

  /**
   * Drains what the socket has. Returns the vassal pid once the whole reply packet is in, empty
   * while more is expected.
   *
   * @throws ForkServerException on EOF before a full packet, a malformed packet, or a failure reply
   */
  public OptionalInt onReadable() throws ForkServerException {
    while (true) {
      int n;
      try {
        n = UnixSockets.recv(fd, chunk);
      } catch (NativeException e) {
        throw new ForkServerException("reading the fork-server reply: " + e.getMessage(), true, e);
      }
      if (n == UnixSockets.WOULD_BLOCK) {
        return OptionalInt.empty();
      }
      if (n == 0) {
        throw new ForkServerException("the fork server closed the connection after " + received.size()
            + " bytes, before a complete pid reply", true);
      }
      received.write(chunk, 0, n);
      OptionalInt pid = complete();
      if (pid.isPresent()) {
        return pid;
      }
    }
  }

  private OptionalInt complete() throws ForkServerException {
    byte[] bytes = received.toByteArray();
    if (bytes.length < UwsgiPacket.HEADER_SIZE) {
      return OptionalInt.empty();
    }
    int want = UwsgiPacket.HEADER_SIZE + UwsgiPacket.bodySize(bytes);
    if (bytes.length < want) {
      return OptionalInt.empty();
    }
    if (bytes.length > want) {
      // The grandchild writes one packet and closes; anything more is a protocol error.
      throw new ForkServerException("fork-server reply: " + (bytes.length - want) + " unexpected bytes after the pid packet", false);
    }
    PidResponse reply;
    try {
      reply = PidResponse.decode(bytes);
    } catch (MalformedPacketException e) {
      throw new ForkServerException(e.getMessage(), false, e);
    }
    if (reply.isFailure()) {
      throw new ForkServerException("the fork server reported failure: pid " + reply.pidValue(), true);
    }
    return reply.pid();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      FileDescriptors.closeQuietly(fd);
    }
  }
}
