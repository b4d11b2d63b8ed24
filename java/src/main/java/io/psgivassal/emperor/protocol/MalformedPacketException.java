package io.psgivassal.emperor.protocol;

/** Bytes that are not a valid uwsgi packet (or not the packet kind expected); the message says exactly why. */
public class MalformedPacketException extends Exception {
  public MalformedPacketException(String message) {
    super(message);
  }
}
