package Vassal::Log;
use strict;
use warnings;
use Exporter 'import';
use POSIX ();

our $VERSION = '0.01';
our @EXPORT_OK = qw(vlog);

our $NAME = 'psgi-vassal';

sub name { $NAME = $_[1] if @_ > 1; $NAME }

sub prefix { "[$NAME pid $$] " }

# Log one message (several lines are each prefixed). Written with one
# write(2) on fd 2 so that lines of concurrent processes do not interleave -
# not through STDERR's PerlIO layers: an app may have put :utf8 on STDERR
# (Catalyst does), and syswrite dies on such a handle.
sub vlog {
    my $msg = join '', map { defined $_ ? $_ : '' } @_;
    $msg =~ s/\n+\z//;
    my $prefix = prefix();
    my $out = join '', map { "$prefix$_\n" } split /\n/, $msg, -1;
    utf8::encode($out) if utf8::is_utf8($out);
    local ($!, $@);
    my $off = 0;
    while ($off < length $out) {
        my $n = POSIX::write(2, substr($out, $off), length($out) - $off);
        last unless $n;    # STDERR is gone: nothing to do about it
        $off += $n;
    }
    return;
}

sub info  { shift; vlog(@_) }
sub error { shift; vlog('ERROR: ', @_) }

1;
__END__

=head1 NAME

Vassal::Log - log lines to STDERR prefixed with the vassal's name and pid

=head1 SYNOPSIS

  use Vassal::Log qw(vlog);

  Vassal::Log->name('app1');
  vlog("listening on 127.0.0.1:8080");   # [app1 pid 12345] listening on 127.0.0.1:8080
  Vassal::Log->error("bad request");     # [app1 pid 12345] ERROR: bad request

=head1 DESCRIPTION

Every line goes to file descriptor 2 with one C<write> (bypassing STDERR's
PerlIO layers, which an app may change), prefixed with
C<[NAME pid PID] >. NAME is the vassal's config file name without its
extension, or C<psgi-vassal>.

=head1 FUNCTIONS

=over 4

=item vlog(@parts)

=item Vassal::Log->info(@parts), Vassal::Log->error(@parts)

=item Vassal::Log->name([$name])

Gets or sets the name used in the prefix.

=back

=cut
