# An app adopted from a base that ran t/apps/preload.pl: says whether
# Plack::Request was already loaded when this file was compiled (inherited
# from the base), and greets /hello/NAME in JSON.
use strict;
use warnings;
my $preloaded;
BEGIN { $preloaded = $INC{'Plack/Request.pm'} ? 1 : 0 }
use Plack::Request;

sub {
    my $req = Plack::Request->new(shift);
    my ($name) = $req->path_info =~ m{\A/hello/(\w+)\z} or return [404, [], ["not found\n"]];
    my $body = qq({"hello":"$name","preloaded":$preloaded});
    return [200, ['Content-Type' => 'application/json', 'Content-Length' => length $body], [$body]];
};
